"""The broker topology, declared in one place.

- ``rapport.events``: a durable topic exchange; the routing key is the event type.
- ``<service>``: one durable queue per consuming service, bound to the types it handles.
  Replicas of a service compete on it.
- ``<service>.retry.<ms>``: delay queues. A failed message is republished into the one for its
  attempt; when its TTL expires RabbitMQ dead-letters it back into ``<service>``.
- ``<service>.dead``: the dead-letter queue ops inspect and replay. The main queue also
  dead-letters into it (``x-delivery-limit`` on quorum queues) so that a message that crashes
  the worker on every delivery cannot block the queue forever.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kombu import Exchange, Queue

DEAD_SUFFIX = ".dead"
RETRY_INFIX = ".retry."
# Redeliveries (not handler failures, which we count ourselves) after which RabbitMQ gives up on
# a message and dead-letters it: only a worker dying on every delivery gets there.
DELIVERY_LIMIT = 10


@dataclass(frozen=True)
class Topology:
    service: str
    bindings: tuple[str, ...]
    exchange_name: str = "rapport.events"
    queue_type: str = "quorum"
    retry_delays: tuple[float, ...] = (1.0, 10.0, 60.0, 600.0)

    @property
    def exchange(self) -> Exchange:
        return Exchange(self.exchange_name, type="topic", durable=True)

    @property
    def queue_name(self) -> str:
        return self.service

    @property
    def dead_queue_name(self) -> str:
        return self.service + DEAD_SUFFIX

    def retry_queue_name(self, attempt: int) -> str:
        """The delay queue a message enters after failing for the ``attempt``-th time."""
        return f"{self.service}{RETRY_INFIX}{self._delay_ms(attempt)}ms"

    def retry_delay(self, attempt: int) -> float:
        return self.retry_delays[min(attempt, len(self.retry_delays)) - 1]

    def _delay_ms(self, attempt: int) -> int:
        return int(round(self.retry_delay(attempt) * 1000))

    def _arguments(self, **extra: object) -> dict[str, object]:
        arguments: dict[str, object] = {"x-queue-type": self.queue_type}
        if self.queue_type == "quorum":
            # Dead-lettering out of a quorum queue is at-most-once unless asked otherwise.
            arguments |= {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
        return arguments | extra

    def main_queue(self) -> Queue:
        extra: dict[str, object] = {
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.dead_queue_name,
        }
        if self.queue_type == "quorum":
            extra["x-delivery-limit"] = DELIVERY_LIMIT
        return Queue(
            self.queue_name,
            durable=True,
            queue_arguments=self._arguments(**extra),
        )

    def dead_queue(self) -> Queue:
        return Queue(
            self.dead_queue_name, durable=True, queue_arguments={"x-queue-type": self.queue_type}
        )

    def retry_queues(self) -> list[Queue]:
        names: dict[str, int] = {}
        for attempt in range(1, len(self.retry_delays) + 1):
            names[self.retry_queue_name(attempt)] = self._delay_ms(attempt)
        return [
            Queue(
                name,
                durable=True,
                queue_arguments=self._arguments(
                    **{
                        "x-message-ttl": ttl,
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": self.queue_name,
                    }
                ),
            )
            for name, ttl in names.items()
        ]

    def declare(self, channel: Any) -> None:
        exchange = self.exchange(channel)
        exchange.declare()
        main = self.main_queue()(channel)
        main.declare()
        for routing_key in self.bindings:
            main.bind_to(exchange=self.exchange_name, routing_key=routing_key)
        self.dead_queue()(channel).declare()
        for queue in self.retry_queues():
            queue(channel).declare()


def declare_exchange(channel: Any, exchange_name: str) -> None:
    Exchange(exchange_name, type="topic", durable=True)(channel).declare()


def all_queue_names(topology: Topology) -> Iterable[str]:
    yield topology.queue_name
    yield topology.dead_queue_name
    yield from (queue.name for queue in topology.retry_queues())
