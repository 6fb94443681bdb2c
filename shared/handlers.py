"""Running a service's event handlers: one transaction per (event, handler), recorded in the
inbox in the same transaction, so that a redelivered event changes nothing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from shared import contracts
from shared.clock import Clock
from shared.contracts import Contract
from shared.db import Database
from shared.envelope import Envelope, new_envelope
from shared.logging import correlation
from shared.metrics import EVENT_HANDLER_SECONDS
from shared.outbox import EventTables

log = logging.getLogger(__name__)


class Emitter:
    """Adds events to the outbox inside the caller's transaction."""

    def __init__(self, tables: EventTables, source: str, clock: Clock) -> None:
        self.tables = tables
        self.source = source
        self.clock = clock

    def emit(
        self,
        session: Session,
        event: Contract,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Envelope:
        envelope = new_envelope(
            event.TYPE,
            event.VERSION,
            event.payload(),
            source=self.source,
            occurred_at=self.clock.now(),
            correlation_id=correlation_id or correlation.get(),
            causation_id=causation_id,
        )
        self.tables.append(session, envelope)
        return envelope


@dataclass
class HandlerContext:
    """What a handler gets besides its event: the open session, the time, and a way to emit."""

    session: Session
    envelope: Envelope
    now: datetime
    emitter: Emitter
    emitted: list[Envelope] = field(default_factory=list)

    def emit(self, event: Contract) -> None:
        self.emitted.append(
            self.emitter.emit(
                self.session,
                event,
                correlation_id=self.envelope.correlation_id,
                causation_id=str(self.envelope.id),
            )
        )


# Any: each handler takes its own contract class (AppointmentBooked, ClientSnapshot, …).
Handler = Callable[[Any, HandlerContext], None]


def handler_name(handler: Handler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


class Dispatcher:
    def __init__(
        self,
        service: str,
        db: Database,
        tables: EventTables,
        handlers: Mapping[str, Sequence[Handler]],
        clock: Clock,
    ) -> None:
        self.service = service
        self.db = db
        self.tables = tables
        self.handlers = handlers
        self.clock = clock
        self.emitter = Emitter(tables, service, clock)

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(sorted(self.handlers))

    def dispatch(self, envelope: Envelope) -> bool:
        """Apply every handler of this event; True if any of them had not seen it before.

        Raises UndecodableEvent when the payload does not fit its contract, and whatever a
        handler raises (after rolling back that handler's transaction).
        """
        event = contracts.parse(envelope)
        applied = False
        token = correlation.set(envelope.correlation_id)
        try:
            for handler in self.handlers.get(envelope.type, ()):
                applied |= self._apply(handler, event, envelope)
        finally:
            correlation.reset(token)
        return applied

    def _apply(self, handler: Handler, event: Contract, envelope: Envelope) -> bool:
        started = time.perf_counter()
        with self.db.transaction() as session:
            now = self.clock.now()
            if not self.tables.record_processed(session, envelope, handler_name(handler), now):
                log.info(
                    "duplicate event skipped",
                    extra={
                        "event_id": str(envelope.id),
                        "event_type": envelope.type,
                        "handler": handler_name(handler),
                    },
                )
                return False
            handler(event, HandlerContext(session, envelope, now, self.emitter))
        elapsed = time.perf_counter() - started
        EVENT_HANDLER_SECONDS.labels(self.service, envelope.type).observe(elapsed)
        log.info(
            "event handled",
            extra={
                "event_id": str(envelope.id),
                "event_type": envelope.type,
                "handler": handler_name(handler),
                "duration_ms": round(elapsed * 1000, 1),
            },
        )
        return True
