"""Applying a batch of events in one transaction (shared/handlers.py Dispatcher.dispatch_batch),
on an SQLite database: the same effects, inbox rows and outbox rows as one event at a time, all
or nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Column, Integer, String, Table, event, func, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.clock import FrozenClock
from shared.db import Database, new_metadata
from shared.envelope import Envelope, new_envelope
from shared.handlers import Dispatcher, HandlerContext
from shared.outbox import EventTables

SAMPLE = Path(__file__).parents[2] / "shared/contracts/samples/appointment.booked.v1.json"
NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
metadata = new_metadata()
TABLES = EventTables(metadata)
effects = Table(
    "effects",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("handler", String(20), nullable=False),
)


class Base(DeclarativeBase):
    metadata = metadata


class Note(Base):
    __tablename__ = "notes"
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)


def booked() -> Envelope:
    data = json.loads(SAMPLE.read_text())["data"]
    return new_envelope("appointment.booked", 1, data, source="scheduler", occurred_at=NOW)


@dataclass
class World:
    db: Database
    tables: EventTables
    dispatcher: Dispatcher
    failing: set[str]
    seen_identities: list[int]

    def effects(self) -> list[tuple[str, str]]:
        with self.db.sessions() as session:
            rows = session.execute(select(effects.c.event_id, effects.c.handler).order_by("seq"))
            return [(event_id, handler) for event_id, handler in rows]

    def count(self, table: Any) -> int:
        with self.db.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(table)) or 0)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    db = Database(f"sqlite:///{tmp_path}/t.db")
    tables = TABLES
    metadata.create_all(db.engine)
    failing: set[str] = set()
    seen_identities: list[int] = []
    kept: list[Note] = []  # alive after their handler, so the session could still hold them

    def note(event: Any, ctx: HandlerContext) -> None:
        # What is left in the session from earlier handlers, then an ORM object of its own.
        seen_identities.append(len(ctx.session.identity_map))
        kept.append(Note(event_id=str(ctx.envelope.id)))
        ctx.session.add(kept[-1])
        ctx.session.execute(insert(effects).values(event_id=str(ctx.envelope.id), handler="note"))

    def emit(event: Any, ctx: HandlerContext) -> None:
        if str(ctx.envelope.id) in failing:
            raise RuntimeError("no fee set")
        ctx.session.execute(insert(effects).values(event_id=str(ctx.envelope.id), handler="emit"))
        ctx.emit(event)

    dispatcher = Dispatcher(
        "billing", db, tables, {"appointment.booked": [note, emit]}, FrozenClock(NOW)
    )
    yield World(db, tables, dispatcher, failing, seen_identities)
    db.dispose()


def handled(event_type: str) -> float:
    labels = {"service": "billing", "type": event_type}
    return REGISTRY.get_sample_value("rapport_event_handler_seconds_count", labels) or 0.0


def test_a_batch_applies_every_handler_of_every_event_once_in_order(world: World) -> None:
    batch = [booked() for _ in range(3)]
    observed_before = handled("appointment.booked")

    assert world.dispatcher.dispatch_batch(batch) == [True, True, True]

    assert world.effects() == [
        (str(envelope.id), handler) for envelope in batch for handler in ("note", "emit")
    ]
    assert world.count(world.tables.inbox) == 6
    assert world.count(world.tables.outbox) == 3
    assert world.count(Note) == 3
    assert world.seen_identities == [0, 0, 0]  # each handler starts from an empty session
    assert handled("appointment.booked") - observed_before == 6


def test_a_batch_delivered_again_changes_nothing(world: World) -> None:
    batch = [booked() for _ in range(3)]
    world.dispatcher.dispatch_batch(batch)

    assert world.dispatcher.dispatch_batch(batch) == [False, False, False]
    assert world.dispatcher.dispatch(batch[1]) is False

    assert len(world.effects()) == 6
    assert world.count(world.tables.outbox) == 3


def test_an_event_twice_in_one_batch_is_applied_once(world: World) -> None:
    envelope = booked()

    assert world.dispatcher.dispatch_batch([envelope, envelope]) == [True, False]

    assert world.effects() == [(str(envelope.id), "note"), (str(envelope.id), "emit")]


def test_a_failing_handler_leaves_nothing_of_the_batch(world: World) -> None:
    batch = [booked() for _ in range(3)]
    world.failing.add(str(batch[1].id))
    observed_before = handled("appointment.booked")

    with pytest.raises(RuntimeError, match="no fee set"):
        world.dispatcher.dispatch_batch(batch)

    assert world.effects() == []
    assert (world.count(world.tables.inbox), world.count(world.tables.outbox)) == (0, 0)
    assert world.count(Note) == 0
    assert handled("appointment.booked") == observed_before
    # One by one, as the consumer then applies them: the others go through.
    assert world.dispatcher.dispatch(batch[0]) is True
    with pytest.raises(RuntimeError):
        world.dispatcher.dispatch(batch[1])
    assert world.dispatcher.dispatch(batch[2]) is True
    assert world.count(world.tables.outbox) == 2


def test_a_batch_records_its_inbox_rows_in_one_statement_and_applies_only_the_new(
    world: World,
) -> None:
    seen = booked()
    world.dispatcher.dispatch(seen)
    batch = [seen, booked(), booked()]
    inbox_inserts: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO INBOX"):
            inbox_inserts.append(statement)

    event.listen(world.db.engine, "before_cursor_execute", count)
    try:
        assert world.dispatcher.dispatch_batch(batch) == [False, True, True]
    finally:
        event.remove(world.db.engine, "before_cursor_execute", count)

    assert len(inbox_inserts) == 1
    assert world.count(world.tables.inbox) == 6
    assert world.effects()[2:] == [
        (str(envelope.id), handler) for envelope in batch[1:] for handler in ("note", "emit")
    ]
