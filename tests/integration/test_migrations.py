"""Each service's migrations build exactly its tables, on PostgreSQL and on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.bootstrap import bootstrap
from shared import migrations
from shared.config import SERVICES


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_migrations_match_the_models(
    service: str, backend: str, system_env: dict[str, str], tmp_path: Path
) -> None:
    env = dict(system_env)
    if backend == "sqlite":
        env[f"{service.upper()}_DATABASE_URL"] = f"sqlite:///{tmp_path}/{service}.db"
    rt = bootstrap(service, env=env)
    migrations.upgrade(rt)
    migrations.upgrade(rt)  # a second run is a no-op
    with rt.db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, rt.service.metadata) == []
    rt.db.dispose()
