"""Events applied in batches, one transaction each (shared/bus/consumer.py, shared/handlers.py),
against the real RabbitMQ and PostgreSQL: a burst waiting in billing's queue is applied once
each, poison events among it are retried and dead-lettered as on their own, and the same burst
delivered again changes nothing. Killed mid-batch: tests/integration/test_crash.py."""

from __future__ import annotations

import logging

import pytest
from kombu import Connection
from prometheus_client import REGISTRY
from sqlalchemy import delete

from services.billing.tables import Fee, Invoice, InvoiceCounter, InvoiceLine
from services.notifier.tables import Reminder
from shared.bus.deadletters import list_dead_letters
from shared.bus.monitor import QueueMonitor
from shared.demo import demo_id
from shared.worker import topology_for
from tests.integration.conftest import System
from tests.integration.test_billing_support import invoice_when_booked
from tests.support import publish_events, wait_until

BURST = 40
POISONED = {5, 15, 25, 35}  # of a service type that has no fee: billing fails on them


def consumed(outcome: str, service: str = "billing") -> float:
    labels = {"service": service, "type": "appointment.booked", "outcome": outcome}
    return REGISTRY.get_sample_value("rapport_events_consumed_total", labels) or 0.0


def queued(system: System) -> dict[str, int]:
    with Connection(system.env["RAPPORT_BROKER_URL"]) as connection:
        return QueueMonitor(connection, topology_for(system.runtimes["billing"])).sample()


def batch_sizes(caplog: pytest.LogCaptureFixture, message: str) -> list[int]:
    return [
        int(getattr(record, "events", 0))
        for record in caplog.records
        if record.name == "shared.bus.consumer" and record.getMessage() == message
    ]


def book_while_billing_waits(system: System, count: int, poisoned: set[int]) -> list[str]:
    """Book with billing's worker stopped, so that the events wait together in its queue."""
    system.stop("billing")
    ids = []
    for n in range(count):
        response = system.book(service_type="ipt-group" if n in poisoned else "ipt-session")
        assert response.status_code == 201, response.json
        ids.append(response.json["id"])
    wait_until(lambda: queued(system)["main"] == count, message="the burst in billing's queue")
    return ids


def test_a_burst_is_applied_once_each_and_its_poison_events_dead_lettered(
    system: System, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="shared.bus.consumer")
    with system.runtimes["billing"].db.transaction() as session:
        session.execute(delete(Fee).where(Fee.service_type_id == demo_id("ipt-group")))
    system.start()
    system.wait_for_projections()
    invoice_when_booked(system)
    ids = book_while_billing_waits(system, BURST, POISONED)
    processed_before, retried_before = consumed("processed"), consumed("retried")

    system.start("billing")

    wait_until(
        lambda: queued(system) == {"main": 0, "dead": len(POISONED)},
        timeout=60,
        message="every event acked, the poison ones dead-lettered",
    )
    for n, appointment_id in enumerate(ids):
        lines = system.count("billing", InvoiceLine, InvoiceLine.appointment_id == appointment_id)
        assert lines == (0 if n in POISONED else 1), n
    numbers = sorted(int(i.number.split("-")[1]) for i in system.rows("billing", Invoice))
    assert numbers == list(range(1, BURST - len(POISONED) + 1))
    with Connection(system.env["RAPPORT_BROKER_URL"]) as connection:
        letters = list_dead_letters(connection, topology_for(system.runtimes["billing"]))
    assert [(d.event_type, d.attempts) for d in letters] == [("appointment.booked", 3)] * 4
    assert all("no fee set" in d.error for d in letters)
    assert consumed("processed") - processed_before == BURST - len(POISONED)
    assert consumed("retried") - retried_before == 2 * len(POISONED)
    # The burst went in batches, and a batch with a poison event in it one by one.
    assert max(batch_sizes(caplog, "batch applied"), default=0) > 1
    assert max(batch_sizes(caplog, "batch not applied, applying its events one by one")) > 1


def test_a_burst_delivered_again_changes_nothing(
    system: System, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="shared.bus.consumer")
    system.start()
    system.wait_for_projections()
    invoice_when_booked(system)
    ids = book_while_billing_waits(system, 20, set())
    system.start("billing")
    wait_until(lambda: system.count("billing", Invoice) == 20, message="the first invoices")
    wait_until(
        lambda: all(
            system.count("notifier", Reminder, Reminder.appointment_id == i) >= 3 for i in ids
        ),
        message="the reminder plans",
    )
    reminders = system.count("notifier", Reminder)
    outbox = system.runtimes["scheduler"].service.tables.outbox
    with system.runtimes["scheduler"].db.sessions() as session:
        bodies = [
            row.body.encode()
            for row in session.execute(outbox.select().where(outbox.c.type == "appointment.booked"))
        ]
    assert len(bodies) == 20
    system.stop("billing")
    caplog.clear()
    duplicates_before = consumed("duplicate")
    notifier_duplicates_before = consumed("duplicate", "notifier")

    publish_events(system.env["RAPPORT_BROKER_URL"], *(("appointment.booked", b) for b in bodies))
    wait_until(lambda: queued(system)["main"] == 20, message="the burst in billing's queue")
    system.start("billing")

    wait_until(
        lambda: consumed("duplicate") - duplicates_before == 20, message="billing's duplicates"
    )
    wait_until(
        lambda: consumed("duplicate", "notifier") - notifier_duplicates_before == 20,
        message="the notifier's duplicates",
    )
    assert queued(system) == {"main": 0, "dead": 0}
    assert max(batch_sizes(caplog, "batch applied")) > 1
    assert all(
        system.count("billing", InvoiceLine, InvoiceLine.appointment_id == i) == 1 for i in ids
    )
    assert system.count("billing", Invoice) == 20
    assert system.rows("billing", InvoiceCounter)[0].last_number == 20
    assert system.count("notifier", Reminder) == reminders
