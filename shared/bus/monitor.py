"""Queue depths for ops: how many events wait in a service's queue and its dead-letter queue."""

from __future__ import annotations

import logging
import threading

from kombu import Connection
from prometheus_client import Gauge

from shared.bus.topology import Topology

log = logging.getLogger(__name__)

QUEUE_MESSAGES = Gauge(
    "rapport_queue_messages",
    "Messages waiting in a service's RabbitMQ queues (ready, not yet delivered)",
    ["service", "queue"],
    multiprocess_mode="max",
)


class QueueMonitor:
    """Polls the depth of the service queue and its dead-letter queue with passive declares."""

    def __init__(self, connection: Connection, topology: Topology, interval: float = 15.0) -> None:
        self.connection = connection
        self.topology = topology
        self.interval = interval

    def sample(self) -> dict[str, int]:
        depths = {}
        with self.connection.channel() as channel:
            for role, name in (
                ("main", self.topology.queue_name),
                ("dead", self.topology.dead_queue_name),
            ):
                _, count, _ = channel.queue_declare(queue=name, passive=True)
                depths[role] = int(count)
                QUEUE_MESSAGES.labels(self.topology.service, role).set(count)
        return depths

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.connection.ensure_connection(max_retries=1, timeout=5)
                self.sample()
            except Exception as exc:
                # The queues may not exist yet, or the broker is away: the consumer reconnects.
                log.debug("queue depth not sampled", extra={"error": str(exc)})
                self.connection.collect()
            stop.wait(self.interval)
        self.connection.release()
