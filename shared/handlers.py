"""Running a service's event handlers, each (event, handler) recorded in the inbox in the
transaction of its effects, so that a redelivered event changes nothing.

``dispatch`` applies one event, one transaction per handler. ``dispatch_batch`` applies several
events, in the order given, in one transaction: one commit (and one connection checkout) for the
batch instead of one per event and handler. It is all or nothing: if any event of the batch
fails, nothing of the batch is kept and the caller applies the events one by one with
``dispatch``, so that a failing event is retried and dead-lettered exactly as on its own. That is
simpler to prove than a savepoint per (event, handler): the success path is the one-by-one path
with the commits in between left out, and the failure path is the one-by-one path. Between two
handlers the session is flushed and emptied, so each handler sees the database as a fresh
session would (no object loaded by an earlier handler, possibly stale after a core UPDATE, is
handed to a later one). Effects outside the transaction that a handler causes before it
returns (a counter incremented directly) happen again when a failed batch is applied one by one,
as they do when a handler's own transaction fails: billing counts after the commit for that.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
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
        envelope = self.envelope(event, correlation_id=correlation_id, causation_id=causation_id)
        self.tables.append(session, envelope)
        return envelope

    def envelope(
        self,
        event: Contract,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Envelope:
        """The envelope ``emit`` would write, for a caller that writes its outbox row inside a
        statement of its own (``EventTables.appended_with``)."""
        return new_envelope(
            event.TYPE,
            event.VERSION,
            event.payload(),
            source=self.source,
            occurred_at=self.clock.now(),
            correlation_id=correlation_id or correlation.get(),
            causation_id=causation_id,
        )


@dataclass
class HandlerContext:
    """What a handler gets besides its event: the open session, the time, and a way to emit."""

    session: Session
    envelope: Envelope
    now: datetime
    emitter: Emitter
    emitted: list[Envelope] = field(default_factory=list)

    def emit(self, event: Contract) -> None:
        self.emitter.tables.append(self.session, self.envelope_of(event))

    def envelope_of(self, event: Contract) -> Envelope:
        """``event`` in the envelope ``emit`` writes (caused by the event handled), counted as
        emitted: for a handler that writes its outbox row inside a statement of its own
        (``EventTables.appended_with``)."""
        envelope = self.emitter.envelope(
            event, correlation_id=self.envelope.correlation_id, causation_id=str(self.envelope.id)
        )
        self.emitted.append(envelope)
        return envelope


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
        with _correlated(envelope):
            for handler in self.handlers.get(envelope.type, ()):
                started = time.perf_counter()
                with self.db.transaction() as session:
                    handled = self._apply(session, handler, event, envelope)
                if handled:
                    self._observe(handler, envelope, time.perf_counter() - started)
                applied |= handled
        return applied

    def dispatch_batch(self, envelopes: Sequence[Envelope]) -> list[bool]:
        """Apply these events in order in one transaction; for each, what ``dispatch`` returns.

        Raises whatever one of them raises (UndecodableEvent included), after rolling back the
        whole batch: nothing of it is kept, so the caller may apply each with ``dispatch``.
        """
        events = [contracts.parse(envelope) for envelope in envelopes]
        pairs = [
            (envelope, handler_name(handler))
            for envelope in envelopes
            for handler in self.handlers.get(envelope.type, ())
        ]
        applied: list[bool] = []
        handled: list[tuple[Handler, Envelope, float]] = []
        with self.db.transaction() as session:
            # The whole batch's inbox rows in one statement; a pair that comes twice in the
            # batch (a redelivery beside its first delivery) is new only the first time.
            fresh = self.tables.record_many(session, pairs, self.clock.now())
            for envelope, event in zip(envelopes, events, strict=True):
                any_new = False
                with _correlated(envelope):
                    for handler in self.handlers.get(envelope.type, ()):
                        started = time.perf_counter()
                        key = (str(envelope.id), handler_name(handler))
                        if key not in fresh:
                            self._skipped(handler, envelope)
                            continue
                        fresh.discard(key)
                        handler(
                            event, HandlerContext(session, envelope, self.clock.now(), self.emitter)
                        )
                        handled.append((handler, envelope, time.perf_counter() - started))
                        any_new = True
                        session.flush()
                        session.expunge_all()
                applied.append(any_new)
            committing = time.perf_counter()
        # Each handler's duration includes its share of the one commit, as its own commit
        # counted in the one-by-one path.
        commit_share = (time.perf_counter() - committing) / max(len(handled), 1)
        for handler, envelope, elapsed in handled:
            with _correlated(envelope):
                self._observe(handler, envelope, elapsed + commit_share)
        return applied

    def _apply(
        self, session: Session, handler: Handler, event: Contract, envelope: Envelope
    ) -> bool:
        """Record (event, handler) in the inbox and run the handler; False for a duplicate."""
        now = self.clock.now()
        if not self.tables.record_processed(session, envelope, handler_name(handler), now):
            self._skipped(handler, envelope)
            return False
        handler(event, HandlerContext(session, envelope, now, self.emitter))
        return True

    def _skipped(self, handler: Handler, envelope: Envelope) -> None:
        log.info(
            "duplicate event skipped",
            extra={
                "event_id": str(envelope.id),
                "event_type": envelope.type,
                "handler": handler_name(handler),
            },
        )

    def _observe(self, handler: Handler, envelope: Envelope, elapsed: float) -> None:
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


@contextlib.contextmanager
def _correlated(envelope: Envelope) -> Iterator[None]:
    """Log lines written meanwhile carry this event's correlation id."""
    token = correlation.set(envelope.correlation_id)
    try:
        yield
    finally:
        correlation.reset(token)
