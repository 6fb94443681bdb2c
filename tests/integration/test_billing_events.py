"""Billing on real RabbitMQ and PostgreSQL: what each appointment event does to the invoices,
once and only once, whatever order the events arrive in, for a practice that invoices at
booking (prepaid). Invoicing after the session is in test_billing_after_session.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.billing.tables import Invoice
from shared.demo import demo_id
from tests.integration.conftest import System
from tests.integration.test_billing_support import (
    Appointment,
    invoice_when_booked,
    invoices_of,
    lines_of,
    next_week,
    outbox_types,
    publish,
    wait_for_billing_projections,
)
from tests.support import PRACTICE_ZONE, wait_until

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock


def started(system: System) -> System:
    system.start("scheduler", "billing")
    wait_for_billing_projections(system)
    invoice_when_booked(system)
    return system


def test_a_booking_raises_exactly_one_invoice_even_when_redelivered(system: System) -> None:
    started(system)
    appointment = Appointment(next_week())
    booked = appointment.booked()
    publish(system, booked, booked)
    wait_until(lambda: invoices_of(system, appointment.id), message="the invoice")
    publish(system, booked)
    later = Appointment(next_week(2))
    publish(system, later.booked())
    wait_until(lambda: invoices_of(system, later.id), message="the next invoice")

    [invoice] = invoices_of(system, appointment.id)
    assert (invoice["total_minor"], invoice["currency"], invoice["status"]) == (
        16000,
        "USD",
        "issued",
    )
    assert invoice["lines"][0]["cpt_code"] == "90834"
    assert lines_of(system, appointment.id) == [("session", "active", 16000)]
    assert system.count("billing", Invoice) == 2
    assert outbox_types(system).count("invoice.issued") == 2


def test_a_late_cancellation_by_the_client_replaces_the_session_with_the_fee(
    system: System,
) -> None:
    started(system)
    appointment = Appointment(next_week())
    publish(system, appointment.booked())
    [issued] = wait_until(lambda: invoices_of(system, appointment.id), message="the invoice")
    publish(system, appointment.cancelled(2, by="client", late=True))
    wait_until(
        lambda: invoices_of(system, appointment.id)[0]["total_minor"] == 8000,
        message="the late-cancellation fee (50% of the session)",
    )
    [invoice] = invoices_of(system, appointment.id)
    assert invoice["number"] == issued["number"]
    assert lines_of(system, appointment.id) == [
        ("session", "void", 16000),
        ("late_cancellation_fee", "active", 8000),
    ]


def test_a_cancellation_by_the_practice_charges_nothing_and_voids_the_invoice(
    system: System,
) -> None:
    started(system)
    appointment = Appointment(next_week())
    publish(system, appointment.booked())
    [issued] = wait_until(lambda: invoices_of(system, appointment.id), message="the invoice")
    publish(system, appointment.cancelled(2, by="practice", late=True))
    wait_until(
        lambda: invoices_of(system, appointment.id)[0]["status"] == "void", message="the void"
    )
    [invoice] = invoices_of(system, appointment.id)
    assert invoice["number"] == issued["number"]  # a voided invoice keeps its number
    assert invoice["total_minor"] == 0
    assert lines_of(system, appointment.id) == [("session", "void", 16000)]
    assert "invoice.voided" in outbox_types(system)


def test_a_timely_cancellation_by_the_client_charges_nothing(system: System) -> None:
    started(system)
    appointment = Appointment(next_week())
    publish(system, appointment.booked())
    wait_until(lambda: invoices_of(system, appointment.id), message="the invoice")
    publish(system, appointment.cancelled(2, by="client", late=False))
    wait_until(
        lambda: invoices_of(system, appointment.id)[0]["status"] == "void", message="the void"
    )
    assert lines_of(system, appointment.id) == [("session", "void", 16000)]


def test_a_no_show_carries_the_no_show_fee(system: System) -> None:
    started(system)
    appointment = Appointment(next_week())
    publish(system, appointment.booked())
    wait_until(lambda: invoices_of(system, appointment.id), message="the invoice")
    publish(system, appointment.no_show(2))
    wait_until(
        lambda: invoices_of(system, appointment.id)[0]["total_minor"] == 8000,
        message="the no-show fee",
    )
    assert lines_of(system, appointment.id) == [
        ("session", "void", 16000),
        ("no_show_fee", "active", 8000),
    ]


def test_a_reschedule_moves_the_line_to_the_new_date(system: System) -> None:
    started(system)
    appointment = Appointment(next_week())
    publish(system, appointment.booked())
    wait_until(lambda: invoices_of(system, appointment.id), message="the invoice")
    moved_to = appointment.starts_at + timedelta(days=2)
    publish(system, appointment.rescheduled(2, moved_to))
    wait_until(
        lambda: (
            invoices_of(system, appointment.id)[0]["lines"][0]["service_date"]
            == moved_to.astimezone(PRACTICE_ZONE).date().isoformat()
        ),
        message="the new date on the line",
    )
    assert lines_of(system, appointment.id) == [("session", "active", 16000)]


def test_events_out_of_order_end_in_the_state_of_the_newest(system: System) -> None:
    started(system)
    # Cancelled late by the client, and only then the booking it follows.
    first = Appointment(next_week())
    publish(system, first.cancelled(2, by="client", late=True))
    wait_until(lambda: invoices_of(system, first.id), message="the late fee")
    publish(system, first.booked(1))
    # Cancelled by the practice before its booking arrives: nothing to bill at all.
    second = Appointment(next_week(2))
    publish(system, second.cancelled(2, by="practice", late=True), second.booked(1))
    # Rescheduled twice; the older reschedule arrives last.
    third = Appointment(next_week(4))
    final_date = third.starts_at + timedelta(days=3)
    publish(
        system,
        third.booked(1),
        third.rescheduled(3, final_date),
        third.rescheduled(2, third.starts_at + timedelta(days=1)),
    )
    marker = Appointment(next_week(6))
    publish(system, marker.booked())
    wait_until(lambda: invoices_of(system, marker.id), message="the events before to be handled")

    assert lines_of(system, first.id) == [("late_cancellation_fee", "active", 8000)]
    assert lines_of(system, second.id) == []
    assert invoices_of(system, second.id) == []
    [third_invoice] = invoices_of(system, third.id)
    final_day = final_date.astimezone(PRACTICE_ZONE).date()
    assert third_invoice["lines"][0]["service_date"] == final_day.isoformat()
    assert lines_of(system, third.id) == [("session", "active", 16000)]


def test_a_practitioners_own_fee_is_charged_for_their_sessions(system: System) -> None:
    started(system)
    service_type = demo_id("ipt-session")
    response = system.call(
        "billing",
        "PUT",
        f"/api/v1/fee-schedule/{service_type}/practitioners/{demo_id('dr-rivera')}",
        admin=True,
        json={"amount_minor": 18500},
    )
    assert response.status_code == 200, response.json
    theirs, standard = (
        Appointment(next_week()),
        Appointment(next_week(2), practitioner="sam-okafor"),
    )
    publish(system, theirs.booked(), standard.booked())
    wait_until(
        lambda: invoices_of(system, theirs.id) and invoices_of(system, standard.id),
        message="both invoices",
    )
    assert invoices_of(system, theirs.id)[0]["total_minor"] == 18500
    assert invoices_of(system, standard.id)[0]["total_minor"] == 16000


def test_a_courses_package_price_is_spread_over_its_upcoming_sessions(system: System) -> None:
    system.start("scheduler", "billing")
    wait_for_billing_projections(system)  # the default mode: invoiced after each session
    service_type = demo_id("ipt-session")
    package = system.call(
        "billing",
        "PUT",
        f"/api/v1/fee-schedule/{service_type}",
        admin=True,
        json={
            "amount_minor": 16000,
            "currency": "USD",
            "package_price_minor": 100000,
            "package_sessions": 3,
        },
    )
    assert package.status_code == 200, package.json
    course = "course-" + demo_id("ipt-session")[:8]
    sessions = [Appointment(next_week(24 * 7 * i), course_id=course) for i in range(4)]
    for session in sessions:
        publish(system, session.booked())
        wait_until(lambda s=session: invoices_of(system, s.id), message="the course line")

    drafts = [invoices_of(system, s.id)[0] for s in sessions]
    assert all(d["status"] == "draft" and d["number"] is None for d in drafts)
    assert [d["lines"][0]["amount_minor"] for d in drafts] == [33334, 33333, 33333, 16000]
    balance = system.call("billing", "GET", f"/api/v1/balances/{demo_id('client-jordan')}").json
    assert (balance["balance_minor"], balance["upcoming_minor"]) == (0, 116000)

    # The desk may issue a draft early (a prepaid week, say): it gets the next number.
    issued = system.call("billing", "POST", f"/api/v1/invoices/{drafts[0]['id']}/issue")
    assert issued.status_code == 200, issued.json
    assert issued.json["status"] == "issued" and issued.json["number"].endswith("-000001")
    again = system.call("billing", "POST", f"/api/v1/invoices/{drafts[0]['id']}/issue")
    assert again.status_code == 409
    assert again.headers["Content-Type"] == "application/problem+json"
