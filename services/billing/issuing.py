"""The issuing loop: gives each draft invoice whose billing period has ended its number.

It reads the application clock, never the database's. Each round claims due drafts with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (so several workers share the work, and a handler still
adding a line to a draft makes the loop wait a round for it), numbers and publishes them in one
transaction: a crash before the commit leaves the drafts as they were and takes no number.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select

from services.billing import ledger
from services.billing.tables import Invoice
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
        with self.rt.db.transaction() as session:

            def emit(event: Contract) -> None:
                self.rt.emitter.emit(session, event)

            due = list(session.scalars(statement))
            for invoice in due:
                if not any(line.status == "active" for line in invoice.lines):
                    session.delete(invoice)
                    continue
                ledger.issue(session, invoice, now, emit, ledger.BY_CLOCK)
                issued += 1
        if issued:
            log.info("invoices issued", extra={"count": issued})
            self.rt.outbox_written()
        return len(due) >= self.batch_size
