#!/usr/bin/env bash
# First-boot initialisation (docker-entrypoint-initdb.d runs it once, on an empty data
# directory): the rapport role and one database per service, each owned by that role.
# To change RAPPORT_DB_PASSWORD later, ALTER ROLE by hand: this script will not run again.
set -euo pipefail

: "${RAPPORT_DB_PASSWORD:?RAPPORT_DB_PASSWORD must be set}"
role="${RAPPORT_DB_USER:-rapport}"

run_psql() {
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" \
    --dbname "${POSTGRES_DB:-postgres}" -v role="$role" "$@"
}

# psql variables (:'x' quotes a literal, format %I an identifier) keep the password and
# names out of the SQL text, so no value can break the statement.
run_psql -v password="$RAPPORT_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role')
\gexec
SQL

for database in scheduler notifier billing; do
  run_psql -v database="$database" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'role')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database')
\gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'database')
\gexec
SQL
done

# The scheduler's no-double-booking exclusion constraint needs btree_gist. It is a trusted
# extension (the owner could create it), but creating it here keeps migrations independent of
# that detail on managed PostgreSQL services.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname scheduler \
  -c 'CREATE EXTENSION IF NOT EXISTS btree_gist'
