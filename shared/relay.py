"""The outbox relay: publishes committed events in order with confirms, marks them sent, and
keeps retrying (with back-off) while the broker is down. Several relays may run against one
PostgreSQL database; SKIP LOCKED gives each its own rows."""

from __future__ import annotations

import logging
import threading

from shared.bus.publisher import Publisher, PublishError
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
        published: list[int] = []
        failed = False
        with self.db.transaction() as session:
            batch = self.tables.claim_unsent(session, self.batch_size)
            for row in batch:
                try:
                    self.publisher.publish(row.body, routing_key=row.type, message_id=row.event_id)
                except PublishError as exc:
                    failed = True
                    PUBLISH_FAILURES.labels(self.service).inc()
                    self.tables.mark_failed(session, row.position, str(exc))
                    log.warning(
                        "outbox publish failed", extra={"event_id": row.event_id, "error": str(exc)}
                    )
                    break
                published.append(row.position)
                EVENTS_PUBLISHED.labels(self.service, row.type).inc()
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
