"""Engines and sessions: PostgreSQL in production, SQLite (WAL, serialized writers) embedded."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which stores naive text) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC instant is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )
        _serialize_sqlite_writers(engine)
        return engine
    connect_args = {"connect_timeout": 5, "options": "-c statement_timeout=30000"}
    engine = create_engine(
        url,
        pool_size=5,
        max_overflow=10,
        pool_timeout=10,
        pool_recycle=1800,
        connect_args=connect_args,
        **kwargs,
    )
    _ping_when_idle(engine)
    return engine


# A connection back in the pool within this many seconds is handed out without a ping.
IDLE_BEFORE_PING = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """pool_pre_ping, but only for a connection that sat idle: under load a connection comes
    back within milliseconds and a ping per checkout was a round trip per transaction; after a
    quiet spell (when a database restart may have cut it) it is still pinged, and a dead one is
    replaced before anyone uses it."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_BEFORE_PING:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError(f"idle connection is gone: {exc}") from exc


def _serialize_sqlite_writers(engine: Engine) -> None:
    # pysqlite's implicit transactions break SERIALIZABLE semantics; BEGIN IMMEDIATE takes the
    # write lock up front, so concurrent check-then-insert transactions run one after another.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # Database.reads(): each statement on its own, no write lock taken
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """One service's database: its engine and a session factory."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._reads = sessionmaker(self._autocommit, class_=_ReadSession, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block, or rolls back on error."""
        with self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def reads(self) -> Iterator[Session]:
        """A session for a request that only reads: its statements run without a transaction
        around them, so a one-statement read is one round trip instead of three (BEGIN, the
        statement, ROLLBACK), and on SQLite it takes no write lock. Each statement sees what
        was committed when it ran, as under READ COMMITTED; a read that needs one snapshot over
        several statements, or any write, belongs in ``transaction()``. Writing through it
        raises ``ReadOnlySession`` before anything reaches the database."""
        with self._reads() as session:
            yield session

    def alone(self, statement: Executable, params: Mapping[str, Any]) -> None:
        """Run one statement that is a whole transaction by itself, without BEGIN and COMMIT
        around it: one round trip instead of three, and no session to set up. PostgreSQL runs
        a statement atomically, including the data-modifying ``WITH`` parts of one, so this is
        for a change that one such statement makes completely; anything that reads first and
        decides, or needs several statements, belongs in ``transaction()``."""
        with self.statements_alone() as connection:
            connection.execute(statement, params)

    def statements_alone(self) -> AbstractContextManager[Connection]:
        """A pooled connection whose every statement runs on its own, as ``reads()`` runs them
        but with no session to set up and close (a tenth of the Python time of a one-statement
        read): for a hot path that runs one statement and reads plain rows."""
        return self._autocommit.connect()

    def dispose(self) -> None:
        self.engine.dispose()


class ReadOnlySession(RuntimeError):
    """A change was made through ``Database.reads()``, which has no transaction to make it in."""


class _ReadSession(Session):
    """The sessions ``Database.reads()`` hands out."""


@event.listens_for(_ReadSession, "before_flush")
def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    raise ReadOnlySession(
        "a session from Database.reads() cannot write: "
        f"{len(session.new)} new, {len(session.dirty)} changed, {len(session.deleted)} deleted"
    )


@event.listens_for(_ReadSession, "do_orm_execute")
def _refuse_statements(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySession("a session from Database.reads() cannot run INSERT/UPDATE/DELETE")


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's transaction commits, and never if it rolls back: a
    counter bumped by a handler must not count twice when its batch is rolled back and the
    event applied again (or retried)."""
    pending: list[Callable[[], None]] = session.info.setdefault("rapport_after_commit", [])
    if not pending:

        def _run(sess: Session) -> None:
            for run in sess.info.pop("rapport_after_commit", []):
                run()

        def _drop(sess: Session) -> None:
            sess.info.pop("rapport_after_commit", None)

        event.listen(session, "after_commit", _run, once=True)
        event.listen(session, "after_rollback", _drop, once=True)
    pending.append(action)
