"""Delay queues for the in-memory transport of the embedded mode, which has no message TTL:
a pump takes messages off the retry queues and puts them back on the service queue when due."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Any

from kombu import Connection

from shared.bus.consumer import RETRY_AT
from shared.bus.publisher import Publisher, body_text
from shared.bus.topology import Topology


class MemoryRetryPump:
    def __init__(self, connection: Connection, topology: Topology, publisher: Publisher) -> None:
        self.connection = connection
        self.topology = topology
        self.publisher = publisher
        self._due: list[tuple[float, int, str, str, dict[str, Any]]] = []
        self._order = itertools.count()

    def run(self, stop: threading.Event) -> None:
        channel = self.connection.channel()
        queues = [queue(channel) for queue in self.topology.retry_queues()]
        while not stop.is_set():
            for queue in queues:
                while (message := queue.get(no_ack=True, accept=None)) is not None:
                    headers = dict(message.headers or {})
                    due = float(headers.get(RETRY_AT, 0))
                    body = body_text(message.body)
                    message_id = str(message.properties.get("message_id") or "")
                    heapq.heappush(self._due, (due, next(self._order), body, message_id, headers))
            while self._due and self._due[0][0] <= time.time():
                _, _, body, message_id, headers = heapq.heappop(self._due)
                self.publisher.publish(
                    body,
                    exchange="",
                    routing_key=self.topology.queue_name,
                    message_id=message_id,
                    headers=headers,
                )
            stop.wait(0.05)
