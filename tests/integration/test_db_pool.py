"""The pool pings only a connection that sat idle, and replaces one the database cut meanwhile:
no ping per checkout under load, no failed transaction after a quiet spell."""

from __future__ import annotations

import psycopg
from sqlalchemy import text

from shared import db
from tests.support import PG_ADMIN, PG_BASE


def test_a_connection_cut_while_idle_is_replaced_before_use() -> None:
    engine = db.make_engine(f"{PG_BASE}/postgres")
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        # Under load (back in the pool moments ago): the same connection, no ping needed.
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == first
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        record = engine.pool._pool.queue[0]  # type: ignore[attr-defined]
        record.info["idle_since"] -= db.IDLE_BEFORE_PING + 1
        with engine.connect() as conn:
            again = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert again != first
    finally:
        engine.dispose()
