"""The consumer loop: ack after commit, retry with back-off through delay queues, then
dead-letter; an undecodable message goes straight to the dead-letter queue.

Deliveries are applied in batches: after a delivery the loop takes whatever else the broker has
already sent (prefetched, so waiting for nothing: a lone event is applied at once), up to
``batch_size``, and hands them in delivery order to ``dispatch_batch``, one transaction for all;
each is acked after that commit. If the batch fails (a handler raises, an event is undecodable,
the commit fails) nothing of it was kept, and each message goes through the one-by-one path
below, whose retries, dead letters and metrics are those of a message on its own. A crash before
the commit redelivers the whole batch; a crash after it, the events the inbox then skips.

Retries and dead letters are republished on a separate connection (with confirms) before the
original is acked: waiting for a confirm on the consuming connection would dispatch further
deliveries re-entrantly. A crash between the republish and the ack redelivers the original,
which the inbox turns into a no-op.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from kombu import Connection, Message
from kombu.mixins import ConsumerMixin

from shared import clock
from shared.bus.publisher import Publisher, PublishError, body_text
from shared.bus.topology import Topology
from shared.envelope import Envelope, UndecodableEvent
from shared.metrics import EVENTS_CONSUMED

log = logging.getLogger(__name__)

ATTEMPT = "x-rapport-attempt"
ERROR = "x-rapport-error"
FAILED_AT = "x-rapport-failed-at"
RETRY_AT = "x-rapport-retry-at"
ORIGINAL_KEY = "x-rapport-routing-key"


class EventConsumer(ConsumerMixin):
    def __init__(
        self,
        connection: Connection,
        topology: Topology,
        dispatch: Callable[[Envelope], Any],
        republisher: Publisher,
        *,
        max_attempts: int,
        prefetch_count: int,
        dispatch_batch: Callable[[Sequence[Envelope]], Sequence[bool]] | None = None,
        batch_size: int = 1,
    ) -> None:
        self.connection = connection
        self.topology = topology
        self.dispatch = dispatch
        self.dispatch_batch = dispatch_batch
        self.batch_size = batch_size if dispatch_batch is not None else 1
        self.republisher = republisher
        self.max_attempts = max_attempts
        self.prefetch_count = prefetch_count
        self.connected = False
        self._received: list[Message] = []
        self._consuming: Connection | None = None

    @contextlib.contextmanager
    def establish_connection(self) -> Iterator[Connection]:
        # kombu's default back-off climbs to 30 s between attempts; after a broker restart a
        # worker should be consuming again within a few seconds.
        with self.create_connection() as connection:
            connection.ensure_connection(
                self.on_connection_error,
                self.connect_max_retries,
                interval_start=1,
                interval_step=1,
                interval_max=5,
            )
            yield connection

    def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:  # noqa: N803 - kombu API
        self.topology.declare(channel)
        return [
            Consumer(
                queues=[self.topology.main_queue()],
                on_message=self.receive,
                prefetch_count=self.prefetch_count,
            )
        ]

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any, **kw: Any) -> None:
        # Deliveries of a lost connection are the broker's again: it redelivers them.
        self._received.clear()
        self._consuming = connection
        self.connected = True
        log.info("consuming", extra={"queue": self.topology.queue_name})

    def receive(self, message: Message) -> None:
        """A delivery, kept until its batch is applied."""
        self._received.append(message)

    def consume(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """kombu's loop, which returns after each delivery; then the batch is taken and applied."""
        for _ in super().consume(*args, **kwargs):
            self._take_arrived()
            self.apply(self._received[:])
            self._received.clear()
            yield

    def _take_arrived(self) -> None:
        """Add the deliveries that have already arrived, without waiting, up to a batch."""
        assert self._consuming is not None
        while self._received and len(self._received) < self.batch_size:
            try:
                self._consuming.drain_events(timeout=0)
            except TimeoutError:  # socket.timeout: nothing more has arrived
                return

    def apply(self, messages: Sequence[Message]) -> None:
        """Apply these deliveries in order: together if they can be, else one by one."""
        if len(messages) > 1 and self._apply_together(messages):
            return
        for message in messages:
            self.on_message(message)

    def _apply_together(self, messages: Sequence[Message]) -> bool:
        assert self.dispatch_batch is not None
        try:
            envelopes = [Envelope.from_json(message.body) for message in messages]
            applied = self.dispatch_batch(envelopes)
        except Exception as exc:
            log.info(
                "batch not applied, applying its events one by one",
                extra={"events": len(messages), "error": f"{type(exc).__name__}: {exc}"},
            )
            return False
        for message, envelope, new in zip(messages, envelopes, applied, strict=True):
            message.ack()
            EVENTS_CONSUMED.labels(
                self.topology.service, envelope.type, "processed" if new else "duplicate"
            ).inc()
        log.debug("batch applied", extra={"events": len(messages)})
        return True

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        self.connected = False
        log.warning(
            "broker connection lost, reconnecting", extra={"error": str(exc), "retry_in": interval}
        )

    def on_message(self, message: Message) -> None:
        try:
            self._handle(message)
        except PublishError as exc:
            # The retry or dead-letter copy was not confirmed: hand the message back to the
            # queue untouched; it is redelivered once the broker accepts publishes again.
            log.warning("could not republish, requeueing", extra={"error": str(exc)})
            message.requeue()
            time.sleep(1.0)

    def _handle(self, message: Message) -> None:
        headers = dict(message.headers or {})
        attempt = int(headers.get(ATTEMPT, 1))
        try:
            envelope = Envelope.from_json(message.body)
            event_type = envelope.type
        except UndecodableEvent as exc:
            self._dead_letter(message, headers, attempt, f"undecodable: {exc}", "?")
            EVENTS_CONSUMED.labels(self.topology.service, "undecodable", "dead_lettered").inc()
            return
        try:
            applied = self.dispatch(envelope)
        except UndecodableEvent as exc:
            self._dead_letter(message, headers, attempt, f"undecodable: {exc}", event_type)
            EVENTS_CONSUMED.labels(self.topology.service, event_type, "dead_lettered").inc()
            return
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if attempt >= self.max_attempts:
                log.error(
                    "handler failed, dead-lettering",
                    extra={
                        "event_id": str(envelope.id),
                        "event_type": event_type,
                        "attempt": attempt,
                        "error": error,
                    },
                )
                self._dead_letter(message, headers, attempt, error, event_type)
                EVENTS_CONSUMED.labels(self.topology.service, event_type, "dead_lettered").inc()
            else:
                log.warning(
                    "handler failed, will retry",
                    extra={
                        "event_id": str(envelope.id),
                        "event_type": event_type,
                        "attempt": attempt,
                        "error": error,
                    },
                )
                self._retry(message, headers, attempt, error)
                EVENTS_CONSUMED.labels(self.topology.service, event_type, "retried").inc()
            return
        message.ack()
        EVENTS_CONSUMED.labels(
            self.topology.service, event_type, "processed" if applied else "duplicate"
        ).inc()

    def _retry(self, message: Message, headers: dict[str, Any], attempt: int, error: str) -> None:
        delay = self.topology.retry_delay(attempt)
        headers |= {
            ATTEMPT: attempt + 1,
            ERROR: error[:1000],
            # Broker mechanics, not business time: the in-memory bus's pump compares it with
            # the real time, as RabbitMQ's TTL does.
            RETRY_AT: time.time() + delay,
        }
        # Back from a delay queue, the routing key is the queue's name: keep the first one.
        headers.setdefault(ORIGINAL_KEY, message.delivery_info.get("routing_key", ""))
        self._republish(message, self.topology.retry_queue_name(attempt), headers)

    def _dead_letter(
        self, message: Message, headers: dict[str, Any], attempt: int, error: str, kind: str
    ) -> None:
        headers |= {
            ATTEMPT: attempt,
            ERROR: error[:1000],
            FAILED_AT: clock.now().timestamp(),
        }
        headers.setdefault(ORIGINAL_KEY, message.delivery_info.get("routing_key", kind))
        self._republish(message, self.topology.dead_queue_name, headers)

    def _republish(self, message: Message, queue: str, headers: dict[str, Any]) -> None:
        body = body_text(message.body)
        self.republisher.publish(
            body,
            exchange="",
            routing_key=queue,
            message_id=str(message.properties.get("message_id") or ""),
            headers=headers,
        )
        message.ack()
