"""The outbox relay: publishes committed events in order with confirms (a batch at a time, its
confirms awaited together), marks the confirmed ones sent, and keeps retrying (with back-off)
while the broker is down. Several relays may run against one
PostgreSQL database; SKIP LOCKED gives each its own rows.

When does it look? On PostgreSQL a CommitListener LISTENs for the notification every outbox
INSERT queues (shared/outbox.py), which PostgreSQL delivers when the writing transaction
commits: the relay wakes at once, and otherwise looks only every ``safety_interval``, in case a
notification was missed. While the listener has no connection (starting, or its connection lost
and not yet back) the relay polls every ``interval``, as it always does on SQLite."""

from __future__ import annotations

import logging
import threading

import psycopg
from sqlalchemy.engine import make_url

from shared.bus.publisher import Outgoing, Publisher
from shared.clock import Clock
from shared.db import Database
from shared.metrics import EVENTS_PUBLISHED, PUBLISH_FAILURES
from shared.outbox import OUTBOX_CHANNEL, EventTables

log = logging.getLogger(__name__)


class CommitListener:
    """LISTENs on the outbox channel over a connection of its own (autocommit, outside the
    pool) and sets ``wakeup`` on every notification. ``listening`` is set only while LISTEN
    holds; when the connection is lost the listener clears it, wakes the relay (which goes back
    to polling) and reconnects with back-off. Having LISTENed again it wakes the relay once
    more: an event committed while nobody listened sent a notification nobody heard, and its
    row is waiting."""

    def __init__(
        self,
        url: str,
        wakeup: threading.Event,
        *,
        retry: float = 0.5,
        max_retry: float = 10.0,
        check_every: float = 1.0,
    ) -> None:
        self.conninfo = make_url(url).set(drivername="postgresql").render_as_string(False)
        self.wakeup = wakeup
        self.retry = retry
        self.max_retry = max_retry
        self.check_every = check_every  # how soon a stop is noticed
        self.listening = threading.Event()
        self.backend_pid: int | None = None

    def run(self, stop: threading.Event) -> None:
        backoff = self.retry
        while not stop.is_set():
            try:
                with psycopg.connect(
                    self.conninfo, autocommit=True, connect_timeout=5, keepalives_idle=30
                ) as connection:
                    connection.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    self.backend_pid = connection.info.backend_pid
                    self.listening.set()
                    self.wakeup.set()
                    backoff = self.retry
                    while not stop.is_set():
                        for _ in connection.notifies(timeout=self.check_every):
                            self.wakeup.set()
            except psycopg.Error as exc:
                log.warning(
                    "outbox listener lost its connection; polling", extra={"error": str(exc)}
                )
            finally:
                self.listening.clear()
                self.backend_pid = None
                self.wakeup.set()
            stop.wait(backoff)
            backoff = min(backoff * 2, self.max_retry)


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
        listen: bool = False,
        safety_interval: float = 5.0,
    ) -> None:
        self.service = service
        self.db = db
        self.tables = tables
        self.publisher = publisher
        self.clock = clock
        self.batch_size = batch_size
        self.interval = interval
        self.max_backoff = max_backoff
        self.safety_interval = safety_interval
        self.wakeup = threading.Event()
        self.listener = CommitListener(db.url, self.wakeup) if listen and db.is_postgres else None

    def publish_batch(self) -> tuple[int, bool]:
        """Publish one batch; (events published, whether the broker failed us)."""
        with self.db.transaction() as session:
            batch = self.tables.take_unsent(session, self.batch_size, self.clock.now())
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
                self.tables.give_back(session, [row.position for row in batch[confirmed:]])
                self.tables.mark_failed(session, row.position, str(error))
                log.warning(
                    "outbox publish failed", extra={"event_id": row.event_id, "error": str(error)}
                )
        return len(published), failed

    def idle_wait(self) -> float:
        """How long to wait for a wake-up before looking anyway."""
        if self.listener is not None and self.listener.listening.is_set():
            return self.safety_interval
        return self.interval

    def run(self, stop: threading.Event) -> None:
        listening = self._listen(stop)
        backoff = self.interval
        while not stop.is_set():
            # Cleared before looking: a commit noticed while the batch is out wakes the wait.
            self.wakeup.clear()
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
                self.wakeup.wait(self.idle_wait())
        self.publisher.close()
        if listening is not None:
            listening.join(5.0)

    def _listen(self, stop: threading.Event) -> threading.Thread | None:
        if self.listener is None:
            return None
        thread = threading.Thread(
            target=self.listener.run,
            args=(stop,),
            name=f"{threading.current_thread().name}-listener",
            daemon=True,
        )
        thread.start()
        return thread
