"""Several relays on one PostgreSQL outbox share the work and publish each event once."""

from __future__ import annotations

import json
import threading

from kombu import Connection, Exchange, Queue

from shared.bus.connection import connect
from shared.bus.publisher import Outgoing, Publisher
from shared.clock import SystemClock
from shared.config import load_settings
from shared.db import Database, new_metadata
from shared.envelope import new_envelope
from shared.outbox import EventTables
from shared.relay import Relay
from tests.support import now, wait_until

EVENTS = 300


def test_two_relays_share_the_outbox_and_publish_every_event_once(
    system_env: dict[str, str],
) -> None:
    settings = load_settings("scheduler", system_env)
    db = Database(settings.database_url)
    metadata = new_metadata()
    tables = EventTables(metadata)
    metadata.create_all(db.engine)
    with db.transaction() as session:
        for n in range(EVENTS):
            tables.append(
                session,
                new_envelope("probe.happened", 1, {"n": n}, source="test", occurred_at=now()),
            )

    probe = Queue(
        "probe",
        exchange=Exchange("rapport.events", type="topic", durable=True),
        routing_key="probe.#",
        durable=True,
    )
    with Connection(settings.broker_url) as connection:
        probe(connection.channel()).declare()

    relays = [
        Relay(
            "scheduler",
            db,
            tables,
            Publisher(connect(settings), settings.exchange, 5),
            SystemClock(),
            batch_size=10,
            interval=0.01,
        )
        for _ in range(2)
    ]
    published = [0, 0]
    stop = threading.Event()

    def run(index: int) -> None:
        while not stop.is_set():
            count, failed = relays[index].publish_batch()
            assert not failed
            published[index] += count
            if count == 0:
                stop.wait(0.01)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    with db.sessions() as session:
        wait_until(
            lambda: tables.backlog(session)[0] == 0 or session.rollback(),
            message="the outbox to drain",
        )
    stop.set()
    for thread in threads:
        thread.join(10)

    received = []
    with Connection(settings.broker_url) as connection:
        queue = probe(connection.channel())
        while (message := queue.get(no_ack=True)) is not None:
            received.append(message.payload["data"]["n"])
    assert sorted(received) == list(range(EVENTS))
    assert sum(published) == EVENTS
    assert all(count > 0 for count in published), published
    db.dispose()


def test_a_pipelined_batch_counts_only_what_the_broker_confirmed(
    system_env: dict[str, str],
) -> None:
    """A queue that refuses publishes beyond two messages: the broker nacks the third, so only
    the first two count as published, and the next batch starts on a fresh channel."""
    settings = load_settings("scheduler", system_env)
    full = Queue(
        "probe.full",
        durable=True,
        queue_arguments={"x-max-length": 2, "x-overflow": "reject-publish"},
    )
    with Connection(settings.broker_url) as connection:
        full(connection.channel()).declare()
    publisher = Publisher(connect(settings), "", 5)
    batch = [Outgoing(json.dumps({"n": n}), "probe.full", f"m-{n}") for n in range(5)]

    confirmed, error = publisher.publish_many(batch)

    assert confirmed == 2
    assert error is not None and "nacked" in str(error)
    with Connection(settings.broker_url) as connection:
        connection.channel().queue_purge("probe.full")
    assert publisher.publish_many(batch[:2]) == (2, None)
    publisher.close()
