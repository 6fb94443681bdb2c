"""Each service's migrations build exactly its tables, on PostgreSQL and on SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
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


def test_replicas_migrating_at_once_take_turns(system_env: dict[str, str]) -> None:
    """Every pod's init container runs `rapport migrate S` when a release rolls out: four at
    once on an empty database all succeed, and the schema ends at head exactly once."""
    rapport = Path(sys.executable).with_name("rapport")
    env = {**os.environ, **system_env, "RAPPORT_LOG_LEVEL": "INFO"}
    runs = [
        subprocess.Popen(
            [str(rapport), "migrate", "notifier"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(run.wait(timeout=180), *run.communicate()) for run in runs]
    for code, out, err in results:
        assert code == 0, err
        assert "notifier: database is up to date" in out
    rt = bootstrap("notifier", env=system_env)
    with rt.db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, rt.service.metadata) == []
        assert len(context.get_current_heads()) == 1
    rt.db.dispose()
