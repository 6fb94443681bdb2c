"""Invoice numbers under concurrency: a hundred bookings at once, taken by three billing workers
competing on one queue (each with its own database connections), get a hundred distinct,
consecutive numbers; and three issuing loops on the same due drafts issue each once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from services.billing.issuing import InvoiceIssuer
from services.billing.tables import Invoice, InvoiceCounter, InvoiceLine
from services.bootstrap import bootstrap
from shared.clock import FrozenClock
from shared.worker import Worker
from tests.integration.conftest import System
from tests.integration.test_billing_support import (
    Appointment,
    invoice_when_booked,
    next_week,
    publish,
    wait_for_billing_projections,
)
from tests.support import wait_until

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock

BOOKINGS = 100


def test_a_hundred_concurrent_bookings_get_a_hundred_consecutive_numbers(system: System) -> None:
    system.start("scheduler", "billing")
    wait_for_billing_projections(system)
    invoice_when_booked(system)
    rivals = [bootstrap("billing", env=system.env) for _ in range(2)]
    workers = [Worker(rt) for rt in rivals]
    for worker in workers:
        worker.start()
    try:
        appointments = [
            Appointment(next_week() + timedelta(minutes=15 * i)) for i in range(BOOKINGS)
        ]
        publish(system, *(a.booked() for a in appointments))
        wait_until(
            lambda: system.count("billing", Invoice) == BOOKINGS,
            timeout=120,
            message="a hundred invoices",
        )
    finally:
        for worker in workers:
            worker.stop()
            worker.join(10)
        for rt in rivals:
            rt.db.dispose()

    # Numbers run per year in the practice's zone: a run that crosses New Year's midnight
    # there (as `make test` does at one of its instants) has two series, each from 1 without
    # a gap, that together number every invoice once.
    by_year: dict[str, list[int]] = {}
    for invoice in system.rows("billing", Invoice):
        year, number = invoice.number.split("-")
        by_year.setdefault(year, []).append(int(number))
    assert sum(len(numbers) for numbers in by_year.values()) == BOOKINGS
    for numbers in by_year.values():
        assert sorted(numbers) == list(range(1, len(numbers) + 1))
    counters = {str(c.year): c.last_number for c in system.rows("billing", InvoiceCounter)}
    assert counters == {year: len(numbers) for year, numbers in by_year.items()}
    lines = system.rows("billing", InvoiceLine)
    assert len(lines) == BOOKINGS
    assert len({line.invoice_id for line in lines}) == BOOKINGS
    assert {line.appointment_id for line in lines} == {a.id for a in appointments}


DAYS = 60


def test_three_issuing_loops_issue_each_due_day_once_with_consecutive_numbers(
    system: System,
) -> None:
    system.start("scheduler", "billing")  # the default mode: a draft per client per day
    wait_for_billing_projections(system)
    appointments = [Appointment(next_week() + timedelta(days=i)) for i in range(DAYS)]
    publish(system, *(a.booked() for a in appointments))
    wait_until(
        lambda: system.count("billing", InvoiceLine) == DAYS,
        timeout=120,
        message="an upcoming charge per day",
    )
    assert system.count("billing", Invoice, Invoice.status == "draft") == DAYS

    rivals = [bootstrap("billing", env=system.env) for _ in range(3)]
    later = FrozenClock(next_week() + timedelta(days=DAYS + 1))
    for rt in rivals:
        rt.clock = rt.emitter.clock = later
    issuers = [InvoiceIssuer(rt) for rt in rivals]
    for issuer in issuers:
        issuer.batch_size = 7  # several rounds each, so they meet on the same rows
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(lambda i: [i.run_once() for _ in range(15)], issuers))
        # A loop that kept meeting rows its rivals held may have left a few due on a slow
        # machine: one more loop, alone, takes what remains (as the next round would).
        for _ in range(DAYS):
            issuers[0].run_once()
    finally:
        for rt in rivals:
            rt.db.dispose()

    invoices = system.rows("billing", Invoice)
    assert {i.status for i in invoices} == {"issued"}
    numbers = sorted(int(i.number.split("-")[1]) for i in invoices)
    assert numbers == list(range(1, DAYS + 1))
    outbox = system.runtimes["billing"].service.tables.outbox
    with system.runtimes["billing"].db.sessions() as session:
        issued_events = session.execute(
            outbox.select().where(outbox.c.type == "invoice.issued")
        ).all()
    assert len(issued_events) == DAYS
