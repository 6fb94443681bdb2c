"""Database.reads(): a request that only reads runs its statements without a transaction around
them (one round trip for a one-statement read, no SQLite write lock), sees what is committed, and
cannot write."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Integer, String, insert, select, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import Database, ReadOnlySession
from tests.support import fresh_databases


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "note"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[str] = mapped_column(String(40))


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'reads.db'}")
        Base.metadata.create_all(db.engine)
        yield db
        db.dispose()
        return
    with fresh_databases() as urls:
        db = Database(next(iter(urls.values())))
        Base.metadata.create_all(db.engine)
        yield db
        db.dispose()


def _in_transaction(session: object) -> bool:
    dbapi = session.connection().connection.dbapi_connection  # type: ignore[attr-defined]
    if hasattr(dbapi, "info"):  # psycopg
        return dbapi.info.transaction_status.name != "IDLE"
    return bool(dbapi.in_transaction)  # sqlite3


def test_reads_see_what_is_committed_outside_any_transaction(database: Database) -> None:
    with database.transaction() as session:
        session.add(Note(id=1, body="first"))
    for _ in range(8):  # every pooled connection, handed back and forth between the two kinds
        with database.reads() as session:
            assert session.scalars(select(Note.body)).all() == ["first"]
            assert not _in_transaction(session)
        with database.transaction() as session:
            session.execute(text("SELECT 1"))
            assert _in_transaction(session)


def test_a_write_through_reads_is_refused_and_changes_nothing(database: Database) -> None:
    with database.transaction() as session:
        session.add(Note(id=1, body="kept"))
    with database.reads() as session, pytest.raises(ReadOnlySession):
        session.add(Note(id=2, body="added"))
        session.flush()
    with database.reads() as session, pytest.raises(ReadOnlySession):
        note = session.get(Note, 1)
        assert note is not None
        note.body = "changed"
        session.flush()
    with database.reads() as session, pytest.raises(ReadOnlySession):
        session.execute(update(Note).values(body="changed"))
    with database.reads() as session, pytest.raises(ReadOnlySession):
        session.execute(insert(Note).values(id=3, body="inserted"))
    with database.reads() as session:
        assert session.scalars(select(Note.body)).all() == ["kept"]


def test_a_read_on_sqlite_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    """Transactions on SQLite take the write lock at BEGIN; a read must not queue behind one
    (it would wait out the 30 s busy timeout and fail with "database is locked")."""
    db = Database(f"sqlite:///{tmp_path / 'lock.db'}")
    Base.metadata.create_all(db.engine)
    with db.transaction() as session:
        session.add(Note(id=1, body="before"))
    holding, read_done = threading.Event(), threading.Event()

    def writer() -> None:
        with db.transaction() as session:
            session.add(Note(id=2, body="uncommitted"))
            session.flush()
            holding.set()
            read_done.wait(timeout=60)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(timeout=30)
        with db.reads() as session:
            seen = session.scalars(select(Note.body)).all()
        read_done.set()
    finally:
        read_done.set()
        thread.join()
    assert seen == ["before"]
    db.dispose()
