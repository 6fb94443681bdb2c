#!/usr/bin/env bash
# Make sure the real PostgreSQL and RabbitMQ that the integration and end-to-end tests use are
# running on 127.0.0.1: start them when installed and stopped, install them with apt when
# missing (as root), otherwise stop with a clear message. Tests are never skipped for want of a
# server. Chromium (browser tests), docker-compose (compose validation), promtool and amtool
# (alert rules and Alertmanager configuration) come from Debian packages too.
set -euo pipefail

log() { printf 'ensure-services: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

apt_updated=0
apt_install() {
  [ "$(id -u)" = 0 ] || die "need root to install $* (or install them yourself)"
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what did not come up in time"
    sleep 1
  done
}

ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "PostgreSQL is not installed: installing it"
    apt_install postgresql
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    log "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for 60 PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
  fi
  # The tests connect over TCP as postgres without a password (trust on loopback).
  psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1 \
    || die "cannot connect to PostgreSQL at 127.0.0.1:5432 as postgres without a password"
}

ensure_rabbitmq() {
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    log "RabbitMQ is not installed: installing it"
    apt_install rabbitmq-server
  fi
  if ! rabbitmqctl -q status >/dev/null 2>&1; then
    log "starting RabbitMQ"
    rabbitmq-server -detached || true
    wait_for 120 RabbitMQ rabbitmqctl -q status
  fi
  rabbitmqctl -q await_startup >/dev/null
  # A previous test run may have stopped the app (broker-outage test) and died before restarting.
  rabbitmqctl -q start_app >/dev/null 2>&1 || true
  # The tests create a vhost per test through the management API (milliseconds, where
  # rabbitmqctl takes a second a call).
  if ! rabbitmq-plugins -q is_enabled rabbitmq_management >/dev/null 2>&1; then
    log "enabling the RabbitMQ management plugin"
    rabbitmq-plugins -q enable rabbitmq_management >/dev/null
  fi
  wait_for 60 "RabbitMQ management API" \
    curl -fsS -u guest:guest http://127.0.0.1:15672/api/overview
}

ensure_tools() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
  # Debian's prometheus package starts a server we do not need. prometheus-alertmanager is
  # installed for amtool only; the tests never talk to an Alertmanager server.
  pkill -x prometheus >/dev/null 2>&1 || true
}

ensure_postgres
ensure_rabbitmq
ensure_tools
log "PostgreSQL and RabbitMQ are up"
