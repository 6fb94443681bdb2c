"""Counters bumped in a transaction count once it commits, and never for one rolled back (a
failed batch applied again one event at a time must not count twice)."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from shared.db import after_commit


def test_actions_run_after_commit_once_and_not_after_rollback() -> None:
    ran: list[str] = []
    with Session(create_engine("sqlite://")) as session:
        session.execute(text("select 1"))
        after_commit(session, lambda: ran.append("rolled back"))
        session.rollback()
        assert ran == []
        session.execute(text("select 1"))
        after_commit(session, lambda: ran.append("first"))
        after_commit(session, lambda: ran.append("second"))
        assert ran == []
        session.commit()
        assert ran == ["first", "second"]
        session.execute(text("select 1"))
        session.commit()
        assert ran == ["first", "second"]
