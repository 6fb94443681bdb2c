"""The consumer's batches and ack / retry / dead-letter decisions, and the outbox relay, with
fakes instead of a broker (shared/bus/consumer.py, shared/relay.py)."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from kombu import Connection, Producer
from prometheus_client import REGISTRY
from sqlalchemy import select

from shared.bus import consumer as consumer_module
from shared.bus.consumer import ATTEMPT, ERROR, FAILED_AT, ORIGINAL_KEY, RETRY_AT, EventConsumer
from shared.bus.publisher import Outgoing, PublishError, _Confirms
from shared.bus.topology import Topology
from shared.clock import FrozenClock
from shared.db import Database, new_metadata
from shared.envelope import Envelope, UndecodableEvent, new_envelope
from shared.outbox import EventTables
from shared.relay import Relay

SAMPLE = Path(__file__).parents[2] / "shared/contracts/samples/appointment.booked.v1.json"
BODY = SAMPLE.read_bytes()
EVENT_ID = json.loads(BODY)["id"]


@dataclass
class FakeMessage:
    body: bytes
    headers: dict[str, Any] | None = None
    delivery_info: dict[str, Any] = field(
        default_factory=lambda: {"routing_key": "appointment.booked"}
    )
    properties: dict[str, Any] = field(default_factory=lambda: {"message_id": EVENT_ID})
    acks: int = 0
    requeues: int = 0

    def ack(self) -> None:
        self.acks += 1

    def requeue(self) -> None:
        self.requeues += 1


@dataclass
class Published:
    body: str
    exchange: str | None
    routing_key: str
    message_id: str
    headers: dict[str, Any]


class FakeRepublisher:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.published: list[Published] = []

    def publish(
        self,
        body: str,
        *,
        routing_key: str,
        message_id: str,
        exchange: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> None:
        if self.fail:
            raise PublishError("TimeoutError: no confirm within 10.0s")
        self.published.append(
            Published(body, exchange, routing_key, message_id, dict(headers or {}))
        )


class Dispatch:
    """A handler stand-in: succeeds, or raises what it was given."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.seen: list[Envelope] = []

    def __call__(self, envelope: Envelope) -> bool:
        self.seen.append(envelope)
        if self.error is not None:
            raise self.error
        return True


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    calls: list[float] = []
    monkeypatch.setattr(consumer_module.time, "sleep", calls.append)
    return calls


def deliver(
    message: FakeMessage,
    dispatch: Dispatch,
    republisher: FakeRepublisher,
    max_attempts: int = 3,
) -> None:
    """Hand one message to a consumer of the notifier's queue."""
    consumer = EventConsumer(
        cast(Any, object()),  # the connection is only stored; on_message never touches it
        Topology("notifier", ("appointment.booked",)),
        dispatch,
        cast(Any, republisher),
        max_attempts=max_attempts,
        prefetch_count=1,
    )
    consumer.on_message(cast(Any, message))


# -- consumer --------------------------------------------------------------------------------


def test_success_acks_once_and_republishes_nothing() -> None:
    dispatch, republisher, message = Dispatch(), FakeRepublisher(), FakeMessage(BODY)

    deliver(message, dispatch, republisher)

    assert (message.acks, message.requeues) == (1, 0)
    assert republisher.published == []
    assert [str(e.id) for e in dispatch.seen] == [EVENT_ID]


def test_first_failure_goes_to_the_first_retry_queue_then_acks() -> None:
    republisher, message = FakeRepublisher(), FakeMessage(BODY)
    dispatch = Dispatch(RuntimeError("client 126e79e2 not known yet"))
    before = time.time()

    deliver(message, dispatch, republisher, max_attempts=3)

    [retry] = republisher.published
    assert (retry.exchange, retry.routing_key) == ("", "notifier.retry.1000ms")
    assert retry.body == BODY.decode()
    assert retry.message_id == EVENT_ID
    assert retry.headers[ATTEMPT] == 2
    assert retry.headers[ERROR] == "RuntimeError: client 126e79e2 not known yet"
    assert retry.headers[ORIGINAL_KEY] == "appointment.booked"
    assert before + 1.0 <= retry.headers[RETRY_AT] <= time.time() + 1.0  # 1 s from now
    assert (message.acks, message.requeues) == (1, 0)


def test_text_body_is_handled_like_bytes() -> None:
    # The in-memory transport of the embedded mode hands bodies over as str.
    republisher = FakeRepublisher()
    message = FakeMessage(cast(Any, BODY.decode()))

    deliver(message, Dispatch(RuntimeError("boom")), republisher)

    assert republisher.published[0].body == BODY.decode()
    assert message.acks == 1


def test_second_failure_waits_longer() -> None:
    republisher = FakeRepublisher()
    message = FakeMessage(BODY, headers={ATTEMPT: 2, "x-custom": "kept"})

    deliver(message, Dispatch(TimeoutError("smtp")), republisher)

    [retry] = republisher.published
    assert retry.routing_key == "notifier.retry.10000ms"
    assert retry.headers[ATTEMPT] == 3
    assert retry.headers["x-custom"] == "kept"
    assert message.acks == 1


def test_failure_at_the_last_attempt_is_dead_lettered_with_the_error() -> None:
    republisher = FakeRepublisher()
    message = FakeMessage(BODY, headers={ATTEMPT: 3})

    deliver(message, Dispatch(ValueError("no fee set")), republisher, 3)

    [dead] = republisher.published
    assert (dead.exchange, dead.routing_key) == ("", "notifier.dead")
    assert dead.body == BODY.decode()
    assert dead.headers[ATTEMPT] == 3
    assert dead.headers[ERROR] == "ValueError: no fee set"
    assert FAILED_AT in dead.headers
    assert (message.acks, message.requeues) == (1, 0)


def test_a_single_attempt_policy_dead_letters_the_first_failure() -> None:
    republisher = FakeRepublisher()

    deliver(FakeMessage(BODY), Dispatch(RuntimeError("boom")), republisher, 1)

    assert [p.routing_key for p in republisher.published] == ["notifier.dead"]


def test_long_errors_are_cut_to_1000_characters() -> None:
    republisher = FakeRepublisher()

    deliver(FakeMessage(BODY), Dispatch(RuntimeError("x" * 5000)), republisher)

    assert len(republisher.published[0].headers[ERROR]) == 1000


@pytest.mark.parametrize(
    "body", [b"{not json", b"\xff\xfe\xfa", b'{"type": "appointment.booked"}'], ids=str
)
def test_undecodable_bytes_go_straight_to_the_dead_letter_queue(body: bytes) -> None:
    dispatch, republisher, message = Dispatch(), FakeRepublisher(), FakeMessage(body)

    deliver(message, dispatch, republisher, 3)

    [dead] = republisher.published
    assert dead.routing_key == "notifier.dead"
    assert dead.headers[ATTEMPT] == 1
    assert dead.headers[ERROR].startswith("undecodable: ")
    assert dead.headers[ORIGINAL_KEY] == "appointment.booked"
    assert dead.body == body.decode("utf-8", errors="replace")
    assert dispatch.seen == []
    assert message.acks == 1


def test_event_that_does_not_fit_its_contract_is_dead_lettered_without_retries() -> None:
    republisher = FakeRepublisher()
    dispatch = Dispatch(UndecodableEvent("appointment.booked v1: starts_at missing"))

    deliver(FakeMessage(BODY), dispatch, republisher, 3)

    [dead] = republisher.published
    assert dead.routing_key == "notifier.dead"
    assert dead.headers[ATTEMPT] == 1
    assert dead.headers[ERROR] == "undecodable: appointment.booked v1: starts_at missing"


def test_dead_letter_after_retries_keeps_the_original_routing_key() -> None:
    # After a retry the message comes back from its delay queue dead-lettered with the routing
    # key "notifier" (the queue's name); the event type is only in the header set before.
    republisher = FakeRepublisher()
    message = FakeMessage(
        BODY,
        headers={ATTEMPT: 3, ORIGINAL_KEY: "appointment.booked"},
        delivery_info={"routing_key": "notifier"},
    )

    deliver(message, Dispatch(RuntimeError("boom")), republisher, 3)

    assert republisher.published[0].headers[ORIGINAL_KEY] == "appointment.booked"


@pytest.mark.parametrize(
    ("headers", "error"),
    [({ATTEMPT: 1}, RuntimeError("boom")), ({ATTEMPT: 3}, RuntimeError("boom")), ({}, None)],
    ids=["retry", "dead-letter", "undecodable"],
)
def test_unconfirmed_republish_requeues_instead_of_acking(
    headers: dict[str, Any], error: Exception | None, sleeps: list[float]
) -> None:
    body = BODY if error is not None else b"{not json"
    message = FakeMessage(body, headers=headers)

    deliver(message, Dispatch(error), FakeRepublisher(fail=True))

    assert (message.acks, message.requeues) == (0, 1)
    assert sleeps == [1.0]


def test_success_needs_no_republisher_and_does_not_pause(sleeps: list[float]) -> None:
    message = FakeMessage(BODY)

    deliver(message, Dispatch(), FakeRepublisher(fail=True))

    assert (message.acks, message.requeues) == (1, 0)
    assert sleeps == []


# -- batches ---------------------------------------------------------------------------------


def body_of(event_id: str) -> bytes:
    return json.dumps({**json.loads(BODY), "id": event_id}).encode()


EVENT_IDS = [f"8c1f3a5e-0000-4000-8000-00000000000{n}" for n in range(1, 6)]


class Arrived:
    """A broker connection on which these deliveries have already arrived: each drain hands
    the next one to the consumer, and with none left times out at once (as socket.timeout)."""

    def __init__(self, consumer: EventConsumer, messages: list[FakeMessage]) -> None:
        self.consumer = consumer
        self.waiting = list(messages)
        self.timeouts: list[float | None] = []

    def drain_events(self, timeout: float | None = None) -> None:
        self.timeouts.append(timeout)
        if not self.waiting:
            raise TimeoutError("timed out")
        self.consumer.receive(cast(Any, self.waiting.pop(0)))


class BatchDispatch:
    """dispatch_batch's stand-in: records each batch and what was acked when it was applied."""

    def __init__(self, messages: list[FakeMessage], error: Exception | None = None) -> None:
        self.messages = messages
        self.error = error
        self.batches: list[list[str]] = []
        self.acked_meanwhile: list[int] = []
        self.duplicates: set[str] = set()

    def __call__(self, envelopes: Any) -> list[bool]:
        self.batches.append([str(e.id) for e in envelopes])
        self.acked_meanwhile.append(sum(m.acks for m in self.messages))
        if self.error is not None:
            raise self.error
        return [str(e.id) not in self.duplicates for e in envelopes]


@dataclass
class Batching:
    consumer: EventConsumer
    connection: Arrived
    messages: list[FakeMessage]
    dispatch: Dispatch
    dispatch_batch: BatchDispatch
    republisher: FakeRepublisher

    def run(self, rounds: int) -> None:
        """That many turns of the consumer loop, each after one delivery."""
        loop = self.consumer.consume()
        for _ in range(rounds):
            next(loop)
        loop.close()


def batching(
    bodies: list[bytes],
    *,
    batch_size: int = 50,
    dispatch: Dispatch | None = None,
    batch_error: Exception | None = None,
) -> Batching:
    messages = [
        FakeMessage(body, properties={"message_id": str(n)}) for n, body in enumerate(bodies)
    ]
    dispatch = dispatch or Dispatch()
    dispatch_batch = BatchDispatch(messages, batch_error)
    republisher = FakeRepublisher()
    consumer = EventConsumer(
        cast(Any, object()),
        Topology("notifier", ("appointment.booked",)),
        dispatch,
        cast(Any, republisher),
        max_attempts=3,
        prefetch_count=100,
        dispatch_batch=dispatch_batch,
        batch_size=batch_size,
    )
    connection = Arrived(consumer, messages)

    @contextlib.contextmanager
    def consumer_context(**_: Any) -> Iterator[tuple[Any, Any, list[Any]]]:
        consumer.on_consume_ready(connection, None, [])
        yield connection, None, []

    consumer.consumer_context = consumer_context  # type: ignore[method-assign]
    return Batching(consumer, connection, messages, dispatch, dispatch_batch, republisher)


def consumed(event_type: str, outcome: str) -> float:
    labels = {"service": "notifier", "type": event_type, "outcome": outcome}
    return REGISTRY.get_sample_value("rapport_events_consumed_total", labels) or 0.0


def test_deliveries_that_have_arrived_are_applied_together_in_order_then_acked() -> None:
    run = batching([body_of(i) for i in EVENT_IDS])
    processed_before = consumed("appointment.booked", "processed")

    run.run(1)

    assert run.dispatch_batch.batches == [EVENT_IDS]
    assert run.dispatch_batch.acked_meanwhile == [0]  # acked only after the commit
    assert [m.acks for m in run.messages] == [1] * 5
    assert run.dispatch.seen == [] and run.republisher.published == []
    # kombu's loop waits for the first delivery; the batch takes only what has arrived.
    assert run.connection.timeouts == [1, 0, 0, 0, 0, 0]
    assert consumed("appointment.booked", "processed") - processed_before == 5


def test_a_batch_holds_at_most_the_batch_size() -> None:
    run = batching([body_of(i) for i in EVENT_IDS], batch_size=2)

    run.run(3)

    assert run.dispatch_batch.batches == [EVENT_IDS[:2], EVENT_IDS[2:4]]
    assert [str(e.id) for e in run.dispatch.seen] == EVENT_IDS[4:]  # the last one on its own
    assert [m.acks for m in run.messages] == [1] * 5


def test_a_lone_delivery_is_applied_at_once_on_its_own() -> None:
    run = batching([body_of(EVENT_IDS[0])])

    run.run(1)

    assert run.dispatch_batch.batches == []
    assert [str(e.id) for e in run.dispatch.seen] == EVENT_IDS[:1]
    assert run.connection.timeouts == [1, 0]
    assert run.messages[0].acks == 1


def test_events_already_applied_are_counted_as_duplicates() -> None:
    run = batching([body_of(i) for i in EVENT_IDS[:3]])
    run.dispatch_batch.duplicates = {EVENT_IDS[1]}
    duplicates_before = consumed("appointment.booked", "duplicate")

    run.run(1)

    assert consumed("appointment.booked", "duplicate") - duplicates_before == 1
    assert [m.acks for m in run.messages] == [1] * 3


class FailsFor(Dispatch):
    """Fails for one event id, succeeds for the others."""

    def __init__(self, event_id: str) -> None:
        super().__init__()
        self.event_id = event_id

    def __call__(self, envelope: Envelope) -> bool:
        self.seen.append(envelope)
        if str(envelope.id) == self.event_id:
            raise RuntimeError("no fee set")
        return True


def test_a_failed_batch_is_applied_one_by_one_and_only_its_failing_event_is_retried() -> None:
    run = batching(
        [body_of(i) for i in EVENT_IDS[:3]],
        dispatch=FailsFor(EVENT_IDS[1]),
        batch_error=RuntimeError("no fee set"),
    )

    run.run(1)

    assert run.dispatch_batch.batches == [EVENT_IDS[:3]]
    assert [str(e.id) for e in run.dispatch.seen] == EVENT_IDS[:3]  # in delivery order
    [retry] = run.republisher.published
    assert (retry.routing_key, retry.message_id) == ("notifier.retry.1000ms", "1")
    assert retry.headers[ERROR] == "RuntimeError: no fee set"
    assert [m.acks for m in run.messages] == [1] * 3


def test_an_undecodable_delivery_in_a_batch_is_dead_lettered_and_the_others_applied() -> None:
    run = batching([body_of(EVENT_IDS[0]), b"{not json", body_of(EVENT_IDS[2])])

    run.run(1)

    assert run.dispatch_batch.batches == []
    assert [str(e.id) for e in run.dispatch.seen] == [EVENT_IDS[0], EVENT_IDS[2]]
    [dead] = run.republisher.published
    assert (dead.routing_key, dead.message_id) == ("notifier.dead", "1")
    assert [m.acks for m in run.messages] == [1] * 3


def test_deliveries_of_a_lost_connection_are_left_to_the_broker() -> None:
    run = batching([body_of(EVENT_IDS[1])])
    run.consumer.receive(cast(Any, FakeMessage(body_of(EVENT_IDS[0]))))  # then the link broke

    run.run(1)  # connected again

    assert run.dispatch_batch.batches == []
    assert [str(e.id) for e in run.dispatch.seen] == EVENT_IDS[1:2]


def test_the_in_memory_bus_hands_over_what_has_arrived_as_one_batch() -> None:
    # The embedded default's transport: its drain times out at once too when nothing is left.
    name = f"unit-{uuid.uuid4().hex[:8]}"
    topology = Topology(name, ("appointment.booked",), exchange_name=name, queue_type="classic")
    with Connection("memory://", transport_options={"polling_interval": 0.02}) as connection:
        producer = Producer(connection.channel())
        topology.declare(producer.channel)
        for event_id in EVENT_IDS[:3]:
            producer.publish(
                body_of(event_id), exchange=topology.exchange, routing_key="appointment.booked"
            )
        dispatch_batch = BatchDispatch([])
        consumer = EventConsumer(
            connection,
            topology,
            Dispatch(),
            cast(Any, FakeRepublisher()),
            max_attempts=3,
            prefetch_count=100,
            dispatch_batch=dispatch_batch,
            batch_size=50,
        )

        loop = consumer.consume()
        next(loop)
        loop.close()

        assert dispatch_batch.batches == [EVENT_IDS[:3]]


# -- relay -----------------------------------------------------------------------------------

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


class FlakyPublisher:
    """Confirms publishes until the ``fail_on``-th one, which times out."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.fail_on = fail_on
        self.calls = 0
        self.confirmed: list[tuple[str, str]] = []

    def publish(self, body: str, *, routing_key: str, message_id: str, **_: Any) -> None:
        self.calls += 1
        if self.calls == self.fail_on:
            raise PublishError("TimeoutError: no confirm within 10.0s")
        self.confirmed.append((routing_key, message_id))

    def publish_many(self, messages: list[Outgoing]) -> tuple[int, PublishError | None]:
        """As the broker answers a pipelined batch: every message confirmed up to the one that
        is not (whatever it says about later ones, the relay may not count them)."""
        for count, m in enumerate(messages):
            try:
                self.publish(m.body, routing_key=m.routing_key, message_id=m.message_id)
            except PublishError as exc:
                return count, exc
        return len(messages), None


@dataclass
class Outbox:
    db: Database
    tables: EventTables
    event_ids: list[str]

    def rows(self) -> list[Any]:
        with self.db.sessions() as session:
            return list(session.execute(select(self.tables.outbox).order_by("position")))

    def backlog(self) -> tuple[int, datetime | None]:
        with self.db.sessions() as session:
            return self.tables.backlog(session)


@pytest.fixture
def outbox(tmp_path: Path) -> Any:
    db = Database(f"sqlite:///{tmp_path}/t.db")
    metadata = new_metadata()
    tables = EventTables(metadata)
    metadata.create_all(db.engine)
    types = ["client.registered", "appointment.booked", "appointment.confirmed", "invoice.issued"]
    ids = []
    with db.transaction() as session:
        for minute, event_type in enumerate(types):
            envelope = new_envelope(
                event_type,
                1,
                {"n": minute},
                source="scheduler",
                occurred_at=T0 + timedelta(minutes=minute),
            )
            tables.append(session, envelope)
            ids.append(str(envelope.id))
    yield Outbox(db, tables, ids)
    db.dispose()


def relay(outbox: Outbox, publisher: FlakyPublisher, clock: FrozenClock) -> Relay:
    return Relay("scheduler", outbox.db, outbox.tables, cast(Any, publisher), clock)


def test_relay_publishes_in_order_and_stops_at_the_first_unconfirmed_event(
    outbox: Outbox,
) -> None:
    publisher = FlakyPublisher(fail_on=3)
    sent_at = T0 + timedelta(minutes=10)

    result = relay(outbox, publisher, FrozenClock(sent_at)).publish_batch()

    assert result == (2, True)
    assert publisher.confirmed == [
        ("client.registered", outbox.event_ids[0]),
        ("appointment.booked", outbox.event_ids[1]),
    ]
    rows = outbox.rows()
    assert [(r.sent_at, r.publish_attempts, r.last_error) for r in rows] == [
        (sent_at, 1, None),
        (sent_at, 1, None),
        (None, 1, "TimeoutError: no confirm within 10.0s"),
        (None, 0, None),
    ]
    assert outbox.backlog() == (2, T0 + timedelta(minutes=2))


def test_relay_retries_the_failed_event_on_the_next_batch(outbox: Outbox) -> None:
    publisher = FlakyPublisher(fail_on=3)
    clock = FrozenClock(T0 + timedelta(minutes=10))
    relay(outbox, publisher, clock).publish_batch()
    clock.advance(timedelta(seconds=5))

    result = relay(outbox, publisher, clock).publish_batch()

    assert result == (2, False)
    assert [key for key, _ in publisher.confirmed] == [
        "client.registered",
        "appointment.booked",
        "appointment.confirmed",
        "invoice.issued",
    ]
    third = outbox.rows()[2]
    assert (third.sent_at, third.publish_attempts, third.last_error) == (
        T0 + timedelta(minutes=10, seconds=5),
        2,
        None,
    )
    assert outbox.backlog() == (0, None)


def test_relay_with_nothing_to_send_publishes_nothing(outbox: Outbox) -> None:
    publisher = FlakyPublisher()
    clock = FrozenClock(T0 + timedelta(minutes=10))
    relay(outbox, publisher, clock).publish_batch()

    assert relay(outbox, publisher, clock).publish_batch() == (0, False)
    assert publisher.calls == 4


def test_relay_batch_size_limits_one_batch(outbox: Outbox) -> None:
    publisher = FlakyPublisher()
    small = Relay(
        "scheduler",
        outbox.db,
        outbox.tables,
        cast(Any, publisher),
        FrozenClock(T0 + timedelta(minutes=10)),
        batch_size=3,
    )

    assert small.publish_batch() == (3, False)
    assert outbox.backlog() == (1, T0 + timedelta(minutes=3))


def test_backlog_of_a_fresh_outbox_counts_everything(outbox: Outbox) -> None:
    count, oldest = outbox.backlog()

    assert (count, oldest) == (4, T0)
    assert oldest is not None and oldest.tzinfo is not None


def test_pipelined_confirms_count_only_the_acked_prefix() -> None:
    confirms = _Confirms(published=6)
    batch = range(2, 7)
    confirms.on_ack(3, multiple=True)  # 1-3
    confirms.on_ack(5, multiple=False)
    assert not confirms.settled(batch)
    assert confirms.confirmed_prefix(batch) == 2  # 2, 3; 4 is not known to be stored
    confirms.on_nack(4, multiple=False)
    confirms.on_ack(6, multiple=False)
    assert confirms.settled(batch)
    assert confirms.confirmed_prefix(batch) == 2
    confirms.on_ack(6, multiple=True)  # an ack of "everything up to 6" does not undo a nack
    assert confirms.confirmed_prefix(batch) == 2


def test_a_multiple_nack_leaves_what_was_already_acked_acked() -> None:
    # What RabbitMQ sends for a queue that rejects publishes past its length, under load:
    # single acks for the first two, then one nack for everything up to the fifth.
    confirms = _Confirms(published=5)
    confirms.on_ack(1, multiple=False)
    confirms.on_ack(2, multiple=False)
    confirms.on_nack(5, multiple=True)
    assert confirms.settled(range(1, 6))
    assert confirms.confirmed_prefix(range(1, 6)) == 2
    assert confirms.nacked == {3, 4, 5}
    confirms.on_ack(7, multiple=True)
    confirms.on_nack(9, multiple=True)
    assert confirms.nacked == {3, 4, 5, 8, 9}
