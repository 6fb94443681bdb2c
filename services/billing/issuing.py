"""The issuing loop: gives each draft invoice whose billing period has ended its number.

It reads the application clock, never the database's. Each round claims due drafts with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (so several workers share the work, and a handler still
adding a line to a draft makes the loop wait a round for it), numbers and publishes them in one
transaction: a crash before the commit leaves the drafts as they were and takes no number.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.billing import ledger, units
from services.billing.authorizations import NEARING_DAYS
from services.billing.periods import practice_day
from services.billing.tables import Authorization, BilledAppointment, Invoice
from shared.contracts import Contract
from shared.service import Runtime

log = logging.getLogger(__name__)


class InvoiceIssuer:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        extra = rt.settings.extra
        self.interval = float(extra.get("BILLING_ISSUE_INTERVAL", "30"))
        self.batch_size = int(extra.get("BILLING_ISSUE_BATCH", "100"))

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("issuing invoices failed; trying again")
                busy = False
            if not busy:
                stop.wait(self.interval)

    def run_once(self) -> bool:
        """One round; True if it claimed a full batch (more may be waiting)."""
        now = self.rt.clock.now()
        statement = (
            select(Invoice)
            .where(Invoice.status == "draft", Invoice.issue_after <= now)
            .order_by(Invoice.issue_after, Invoice.id)
            .limit(self.batch_size)
        )
        if self.rt.db.is_postgres:
            statement = statement.with_for_update(skip_locked=True)
        issued = 0
        emitted: list[str] = []
        with self.rt.db.transaction() as session:

            def emit(event: Contract) -> None:
                emitted.append(event.TYPE)
                self.rt.emitter.emit(session, event)

            due = list(session.scalars(statement))
            for invoice in due:
                if not any(line.status == "active" for line in invoice.lines):
                    session.delete(invoice)
                    continue
                ledger.issue(session, invoice, now, emit, ledger.BY_CLOCK)
                _unmarked_sessions_use_units(session, invoice, now, emit)
                issued += 1
            _authorizations_ending(session, now, emit)
        if issued:
            log.info("invoices issued", extra={"count": issued})
        if emitted:
            self.rt.outbox_written()
        return len(due) >= self.batch_size


def _unmarked_sessions_use_units(
    session: Session, invoice: Invoice, now: datetime, emit: ledger.Emit
) -> None:
    """A session nobody marked counts as attended: it uses an authorization unit now."""
    for line in invoice.lines:
        if line.kind != "session" or line.status != "active":
            continue
        held = session.get(BilledAppointment, line.appointment_id)
        if held is None or held.status not in ("booked", "confirmed"):
            continue
        if held.starts_at is not None and held.starts_at <= now:
            units.use_unit(
                session,
                held.appointment_id,
                held.client_id,
                line.cpt_code,
                line.service_date,
                now,
                emit,
            )


def _authorizations_ending(session: Session, now: datetime, emit: ledger.Emit) -> None:
    """Authorizations whose last fourteen days have begun (the units rule is checked when a
    unit is used)."""
    today = practice_day(now, ledger.rules(session).time_zone)
    statement = select(Authorization).where(
        Authorization.nearing_end_at.is_(None),
        Authorization.valid_to <= today + timedelta(days=NEARING_DAYS),
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    for authorization in session.scalars(statement):
        units.check_nearing_end(session, authorization, now, emit)
