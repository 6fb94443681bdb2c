"""The outbox relay: publishes committed events in order with confirms (a batch at a time, its
confirms awaited together), marks the confirmed ones sent, and keeps retrying (with back-off)
while the broker is down. Several relays may run against one
PostgreSQL database; SKIP LOCKED gives each its own rows."""

from __future__ import annotations

import logging
import threading

from shared.bus.publisher import Outgoing, Publisher
from shared.clock import Clock
from shared.db import Database
from shared.metrics import EVENTS_PUBLISHED, PUBLISH_FAILURES
from shared.outbox import EventTables

log = logging.getLogger(__name__)


class Relay:
    def __init__(
        self,
        service: str,
        db: Database,
        tables: EventTables,
        publisher: Publisher,
        clock: Clock,
        *,
        batch_size: int = 100,
        interval: float = 0.2,
        max_backoff: float = 5.0,
    ) -> None:
        self.service = service
        self.db = db
        self.tables = tables
        self.publisher = publisher
        self.clock = clock
        self.batch_size = batch_size
        self.interval = interval
        self.max_backoff = max_backoff
        self.wakeup = threading.Event()

    def publish_batch(self) -> tuple[int, bool]:
        """Publish one batch; (events published, whether the broker failed us)."""
        with self.db.transaction() as session:
            batch = self.tables.claim_unsent(session, self.batch_size)
            if not batch:
                return 0, False
            confirmed, error = self.publisher.publish_many(
                [Outgoing(row.body, row.type, row.event_id) for row in batch]
            )
            published = [row.position for row in batch[:confirmed]]
            for row in batch[:confirmed]:
                EVENTS_PUBLISHED.labels(self.service, row.type).inc()
            failed = error is not None
            if error is not None:
                row = batch[confirmed]
                PUBLISH_FAILURES.labels(self.service).inc()
                self.tables.mark_failed(session, row.position, str(error))
                log.warning(
                    "outbox publish failed", extra={"event_id": row.event_id, "error": str(error)}
                )
            self.tables.mark_sent(session, published, self.clock.now())
        return len(published), failed

    def run(self, stop: threading.Event) -> None:
        backoff = self.interval
        while not stop.is_set():
            try:
                count, failed = self.publish_batch()
            except Exception:
                log.exception("relay iteration failed (database?)")
                count, failed = 0, True
            if failed:
                stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = self.interval
            if count < self.batch_size:
                self.publisher.heartbeat_check()
                self.wakeup.wait(self.interval)
                self.wakeup.clear()
        self.publisher.close()
