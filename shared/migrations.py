"""Alembic, one migration history per service, run the same way on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, MetaData, text

from shared.service import Runtime

log = logging.getLogger(__name__)

# How long a replica waits for another one's migration before giving up (its pod restarts).
LOCK_WAIT_SECONDS = 900.0


def alembic_config(runtime: Runtime) -> Config:
    config = Config()
    config.set_main_option("script_location", str(runtime.service.migrations))
    config.set_main_option("sqlalchemy.url", runtime.settings.database_url)
    config.attributes["engine"] = runtime.db.engine
    config.attributes["metadata"] = runtime.service.metadata
    return config


def upgrade(runtime: Runtime, revision: str = "head") -> None:
    command.upgrade(alembic_config(runtime), revision)


def lock_key(history: str) -> int:
    """A stable 64-bit advisory-lock key for one service's migration history."""
    digest = hashlib.sha256(f"rapport.migrate.{history}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def migration_lock(
    connection: Connection, key: int, wait: float = LOCK_WAIT_SECONDS
) -> Iterator[None]:
    """Hold a PostgreSQL session advisory lock while migrating, so replicas that start together
    (an init container per pod) run one after another: the first upgrades, the others then find
    the schema at head and do nothing. Polled with pg_try_advisory_lock rather than waited on
    with pg_advisory_lock, which the connection's statement_timeout would cancel. SQLite needs
    none: it serialises writers itself and is never shared between hosts."""
    if connection.dialect.name != "postgresql":
        yield
        return
    deadline = time.monotonic() + wait
    logged = False
    while not connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
        connection.commit()
        if time.monotonic() > deadline:
            raise TimeoutError(f"another migration held the lock for over {wait:.0f}s")
        if not logged:
            log.info("waiting for another process's migration to finish")
            logged = True
        time.sleep(0.5)
    # A session lock outlives this transaction; commit so Alembic begins its own.
    connection.commit()
    try:
        yield
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        connection.commit()


def run_env(context: object, metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""
    config = context.config  # type: ignore[attr-defined]
    engine = config.attributes.get("engine")
    if engine is None:
        from shared.db import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url"))
    history = Path(config.get_main_option("script_location")).parent.name
    with engine.connect() as connection, migration_lock(connection, lock_key(history)):
        context.configure(  # type: ignore[attr-defined]
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():  # type: ignore[attr-defined]
            context.run_migrations()  # type: ignore[attr-defined]
