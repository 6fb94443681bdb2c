"""A relay on PostgreSQL wakes when a transaction that wrote the outbox commits (LISTEN/NOTIFY),
not at its next poll: here both its poll intervals are 30 s, so an event published within the
tests' bound was published on the notification. A rolled-back transaction publishes nothing,
and a relay whose listening connection is killed listens again and loses no event."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import text

from shared.bus.connection import connect
from shared.bus.publisher import Publisher
from shared.clock import SystemClock
from shared.config import Settings, load_settings
from shared.db import Database, new_metadata
from shared.envelope import Envelope, new_envelope
from shared.outbox import EventTables
from shared.relay import Relay
from tests.support import now, wait_until

LONG = 30.0  # both poll intervals: far beyond the bound the tests wait
BOUND = 10.0  # generous: a functional bound, not a speed claim


@dataclass
class Running:
    settings: Settings
    db: Database
    tables: EventTables
    relay: Relay
    probe: Queue

    def emit(self, n: int) -> Envelope:
        with self.db.transaction() as session:
            envelope = self.envelope(n)
            self.tables.append(session, envelope)
        return envelope

    @staticmethod
    def envelope(n: int) -> Envelope:
        return new_envelope("probe.woke", 1, {"n": n}, source="test", occurred_at=now())

    def received(self) -> list[int]:
        found = []
        with Connection(self.settings.broker_url) as connection:
            queue = self.probe(connection.channel())
            while (message := queue.get(no_ack=True)) is not None:
                found.append(message.payload["data"]["n"])
        return found

    def wait_for(self, numbers: list[int], what: str) -> None:
        seen: list[int] = []
        wait_until(
            lambda: seen.extend(self.received()) or sorted(seen) == numbers,
            timeout=BOUND,
            message=what,
        )


@pytest.fixture
def running(system_env: dict[str, str]) -> Iterator[Running]:
    settings = load_settings("scheduler", system_env)
    db = Database(settings.database_url)
    metadata = new_metadata()
    tables = EventTables(metadata)
    metadata.create_all(db.engine)
    probe = Queue(
        "probe.woke",
        exchange=Exchange("rapport.events", type="topic", durable=True),
        routing_key="probe.#",
        durable=True,
    )
    with Connection(settings.broker_url) as connection:
        probe(connection.channel()).declare()
    relay = Relay(
        "scheduler",
        db,
        tables,
        Publisher(connect(settings), settings.exchange, 5),
        SystemClock(),
        interval=LONG,
        listen=True,
        safety_interval=LONG,
    )
    assert relay.listener is not None
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    wait_until(relay.listener.listening.is_set, timeout=BOUND, message="the relay to listen")
    try:
        yield Running(settings, db, tables, relay, probe)
    finally:
        stop.set()
        relay.wakeup.set()
        thread.join(10)
        db.dispose()


def test_an_event_is_published_when_its_transaction_commits(running: Running) -> None:
    running.emit(1)

    running.wait_for([1], "the committed event, published on its notification")


def test_a_rolled_back_transaction_publishes_nothing(running: Running) -> None:
    with running.db.sessions() as session, session.begin():
        running.tables.append(session, running.envelope(1))
        session.rollback()
    running.emit(2)

    running.wait_for([2], "the committed event only")
    with running.db.sessions() as session:
        assert running.tables.backlog(session)[0] == 0
        assert session.scalar(text("SELECT count(*) FROM outbox")) == 1
    assert running.received() == []


def test_a_relay_whose_listening_connection_is_killed_listens_again(running: Running) -> None:
    listener = running.relay.listener
    assert listener is not None and listener.backend_pid is not None
    killed = listener.backend_pid
    with running.db.transaction() as session:
        assert session.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
    running.emit(1)  # while nobody may be listening: published once the listener is back

    running.wait_for([1], "the event committed while the listener was cut off")
    wait_until(
        lambda: listener.listening.is_set() and listener.backend_pid not in (None, killed),
        timeout=BOUND,
        message="the listener on a new connection",
    )
    running.emit(2)
    running.wait_for([2], "an event committed after the listener came back")
