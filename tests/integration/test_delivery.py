"""The delivery guarantees of ARCHITECTURE.md, against the real RabbitMQ and PostgreSQL: no
booking without its reminders and invoice, and no reminder or invoice twice. Billing invoices at
booking here (prepaid), so that every booking's effect is a numbered invoice at once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime

import pytest
from kombu import Connection
from prometheus_client import REGISTRY
from sqlalchemy import delete, update

from services.billing.tables import Fee, Invoice, InvoiceCounter, InvoiceLine
from services.notifier.tables import Reminder
from shared.bus.deadletters import list_dead_letters
from shared.bus.monitor import QueueMonitor
from shared.demo import demo_id
from shared.worker import topology_for
from tests.integration.conftest import System
from tests.integration.test_billing_support import invoice_when_booked
from tests.support import PRACTICE_ZONE, broker_stopped, clock_env, publish_events, wait_until

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock


def consumed(service: str, event_type: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "rapport_events_consumed_total",
        {"service": service, "type": event_type, "outcome": outcome},
    )
    return value or 0.0


def invoices_for(system: System, appointment_id: str) -> int:
    return system.count("billing", InvoiceLine, InvoiceLine.appointment_id == appointment_id)


def reminders_for(system: System, appointment_id: str) -> int:
    return system.count("notifier", Reminder, Reminder.appointment_id == appointment_id)


def test_a_booking_raises_one_invoice_and_plans_its_reminders(system: System) -> None:
    system.start()
    system.wait_for_projections()
    invoice_when_booked(system)

    response = system.book()
    assert response.status_code == 201, response.json
    appointment_id = response.json["id"]

    wait_until(lambda: invoices_for(system, appointment_id) == 1, message="the invoice")
    wait_until(lambda: reminders_for(system, appointment_id) == 4, message="the reminder plan")
    shown = wait_until(
        lambda: (
            (a := system.call("scheduler", "GET", f"/api/v1/appointments/{appointment_id}").json)[
                "invoice_number"
            ]
            and a["reminder_status"]
            and a
        ),
        message="the outcome shown at the desk",
    )
    invoices = system.call("billing", "GET", f"/api/v1/invoices?appointment_id={appointment_id}")
    assert [i["total_minor"] for i in invoices.json["items"]] == [16000]
    # Numbered in the practice's calendar year of the moment it was issued.
    issued = datetime.fromisoformat(invoices.json["items"][0]["issued_at"])
    assert shown["invoice_number"] == f"{issued.astimezone(PRACTICE_ZONE).year}-000001"
    reminders = system.call("notifier", "GET", f"/api/v1/reminders?appointment_id={appointment_id}")
    assert sorted((r["kind"], r["channel"]) for r in reminders.json["items"]) == [
        ("confirmation", "email"),
        ("confirmation", "sms"),
        ("reminder", "email"),
        ("reminder", "sms"),
    ]


@pytest.mark.broker_outage
def test_bookings_made_while_the_broker_is_down_are_all_delivered_later(system: System) -> None:
    system.start()
    system.wait_for_projections()
    invoice_when_booked(system)

    with broker_stopped():
        responses = [system.book() for _ in range(5)]
        assert [r.status_code for r in responses] == [201] * 5
        assert system.backlog("scheduler") == 5
    ids = [r.json["id"] for r in responses]

    wait_until(
        lambda: all(invoices_for(system, i) == 1 for i in ids),
        timeout=90,
        message="every invoice after the broker came back",
    )
    # Each of the five same-day sessions gets its two confirmations and its email reminder;
    # the client's SMS cap (one reminder SMS a day) gives only one of them an SMS reminder.
    wait_until(
        lambda: sum(reminders_for(system, i) for i in ids) == 5 * 3 + 1,
        timeout=90,
        message="every reminder plan after the broker came back",
    )
    assert all(reminders_for(system, i) in (3, 4) for i in ids)
    assert system.backlog("scheduler") == 0
    assert system.count("billing", Invoice) == 5


def test_an_event_delivered_twice_has_one_effect(system: System) -> None:
    system.start()
    system.wait_for_projections()
    invoice_when_booked(system)
    appointment_id = system.book().json["id"]
    wait_until(lambda: invoices_for(system, appointment_id) == 1, message="the invoice")
    wait_until(lambda: reminders_for(system, appointment_id) == 4, message="the reminders")
    duplicates_before = consumed("billing", "appointment.booked", "duplicate")

    # 1. The broker redelivers: the same envelope arrives again.
    outbox = system.runtimes["scheduler"].service.tables.outbox
    with system.runtimes["scheduler"].db.sessions() as session:
        row = session.execute(outbox.select().where(outbox.c.type == "appointment.booked")).one()
    publish_events(system.env["RAPPORT_BROKER_URL"], ("appointment.booked", row.body.encode()))
    # 2. A relay crashed after publishing but before marking the row sent: it publishes again.
    with system.runtimes["scheduler"].db.transaction() as session:
        session.execute(
            update(outbox).where(outbox.c.position == row.position).values(sent_at=None)
        )

    wait_until(
        lambda: consumed("billing", "appointment.booked", "duplicate") >= duplicates_before + 2,
        message="both duplicates consumed",
    )
    assert invoices_for(system, appointment_id) == 1
    assert reminders_for(system, appointment_id) == 4
    assert system.rows("billing", InvoiceCounter)[0].last_number == 1


def test_a_failing_handler_is_retried_dead_lettered_and_replayed(system: System) -> None:
    with system.runtimes["billing"].db.transaction() as session:
        session.execute(delete(Fee).where(Fee.service_type_id == demo_id("ipt-group")))
    system.start()
    system.wait_for_projections()
    invoice_when_booked(system)
    retried_before = consumed("billing", "appointment.booked", "retried")

    failing = system.book(service_type="ipt-group").json["id"]
    flowing = system.book(service_type="ipt-session").json["id"]

    wait_until(
        lambda: invoices_for(system, flowing) == 1,
        message="the next booking to be invoiced while the first one fails",
    )
    topology = topology_for(system.runtimes["billing"])
    with Connection(system.env["RAPPORT_BROKER_URL"]) as connection:
        letters = wait_until(
            lambda: list_dead_letters(connection, topology), timeout=20, message="the dead letter"
        )
    assert [(d.event_type, d.attempts) for d in letters] == [("appointment.booked", 3)]
    assert "no fee set for service type 'IPT group session'" in letters[0].error
    # The peek above hands its messages back as its channel closes, which RabbitMQ finishes
    # after the client has moved on: until then the queue counts them out.
    with Connection(system.env["RAPPORT_BROKER_URL"]) as connection:
        monitor = QueueMonitor(connection, topology)
        wait_until(lambda: monitor.sample()["dead"] == 1, timeout=10, message="one dead letter")
    assert consumed("billing", "appointment.booked", "retried") - retried_before == 2
    assert invoices_for(system, failing) == 0
    assert reminders_for(system, failing) == 4  # the notifier was not held up by billing

    fixed = system.call(
        "billing",
        "PUT",
        f"/api/v1/fee-schedule/{demo_id('ipt-group')}",
        admin=True,
        json={"amount_minor": 7500, "currency": "USD"},
    )
    assert fixed.status_code == 200, fixed.json
    replay = subprocess.run(
        [sys.executable, "-m", "services.cli", "dlq", "replay", "billing"],
        env={**system.env, **clock_env(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replay.returncode == 0, replay.stderr
    assert "replayed 1" in replay.stdout

    wait_until(lambda: invoices_for(system, failing) == 1, message="the replayed invoice")
    with Connection(system.env["RAPPORT_BROKER_URL"]) as connection:
        assert list_dead_letters(connection, topology) == []
        assert QueueMonitor(connection, topology).sample() == {"main": 0, "dead": 0}
    assert sorted(i.number[-6:] for i in system.rows("billing", Invoice)) == ["000001", "000002"]


def test_an_undecodable_message_goes_straight_to_the_dead_letter_queue(system: System) -> None:
    system.start()
    system.wait_for_projections()
    publish_events(system.env["RAPPORT_BROKER_URL"], ("appointment.booked", b"{not json"))
    appointment_id = system.book().json["id"]
    wait_until(lambda: invoices_for(system, appointment_id) == 1, message="the next invoice")

    for service in ("billing", "notifier"):
        topology = topology_for(system.runtimes[service])
        with Connection(system.env["RAPPORT_BROKER_URL"]) as connection:
            letters = wait_until(
                lambda t=topology, c=connection: list_dead_letters(c, t),
                message=f"{service}'s dead letter",
            )
        assert len(letters) == 1
        assert letters[0].attempts == 1
        assert letters[0].error.startswith("undecodable")


@pytest.fixture
def impatient_system(system_env: dict[str, str]) -> Iterator[System]:
    """Dead-letters on the first failure, so a poison event comes back within milliseconds."""
    s = System({**system_env, "RAPPORT_MAX_ATTEMPTS": "1"})
    s.prepare()
    try:
        yield s
    finally:
        s.shutdown()


def test_a_replay_moves_each_dead_letter_once_even_while_it_keeps_failing(
    impatient_system: System,
) -> None:
    system = impatient_system
    # No fee for group sessions, and nobody sets one: the event fails every time it is tried.
    with system.runtimes["billing"].db.transaction() as session:
        session.execute(delete(Fee).where(Fee.service_type_id == demo_id("ipt-group")))
    system.start()
    system.wait_for_projections()
    poison = [system.book(service_type="ipt-group").json["id"] for _ in range(40)]
    topology = topology_for(system.runtimes["billing"])
    with Connection(system.env["RAPPORT_BROKER_URL"]) as connection:
        wait_until(
            lambda: QueueMonitor(connection, topology).sample()["dead"] == 40,
            message="40 dead letters",
        )

    replay = subprocess.run(
        [sys.executable, "-m", "services.cli", "dlq", "replay", "billing"],
        env={**system.env, **clock_env(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    # The worker dead-letters each replayed event again at once, behind the ones still waiting;
    # the replay still ends, having moved each of the forty exactly once, and says which.
    assert replay.returncode == 0, replay.stderr
    assert "billing: replayed 40 dead-lettered event(s)" in replay.stdout
    moved = [json.loads(line) for line in replay.stdout.splitlines() if line.startswith("{")]
    assert len({m["replayed"] for m in moved}) == 40
    with Connection(system.env["RAPPORT_BROKER_URL"]) as connection:
        wait_until(
            lambda: QueueMonitor(connection, topology).sample() == {"main": 0, "dead": 40},
            message="the forty back in the dead-letter queue",
        )
    assert all(invoices_for(system, a) == 0 for a in poison)
