"""Alembic, one migration history per service, run the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

from shared.service import Runtime


def alembic_config(runtime: Runtime) -> Config:
    config = Config()
    config.set_main_option("script_location", str(runtime.service.migrations))
    config.set_main_option("sqlalchemy.url", runtime.settings.database_url)
    config.attributes["engine"] = runtime.db.engine
    config.attributes["metadata"] = runtime.service.metadata
    return config


def upgrade(runtime: Runtime, revision: str = "head") -> None:
    command.upgrade(alembic_config(runtime), revision)


def run_env(context: object, metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""
    config = context.config  # type: ignore[attr-defined]
    engine = config.attributes.get("engine")
    if engine is None:
        from shared.db import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(  # type: ignore[attr-defined]
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():  # type: ignore[attr-defined]
            context.run_migrations()  # type: ignore[attr-defined]
