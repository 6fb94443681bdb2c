"""The consumer loop: ack after commit, retry with back-off through delay queues, then
dead-letter; an undecodable message goes straight to the dead-letter queue.

Retries and dead letters are republished on a separate connection (with confirms) before the
original is acked: waiting for a confirm on the consuming connection would dispatch further
deliveries re-entrantly. A crash between the republish and the ack redelivers the original,
which the inbox turns into a no-op.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
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
    ) -> None:
        self.connection = connection
        self.topology = topology
        self.dispatch = dispatch
        self.republisher = republisher
        self.max_attempts = max_attempts
        self.prefetch_count = prefetch_count
        self.connected = False

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
                on_message=self.on_message,
                prefetch_count=self.prefetch_count,
            )
        ]

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any, **kw: Any) -> None:
        self.connected = True
        log.info("consuming", extra={"queue": self.topology.queue_name})

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
