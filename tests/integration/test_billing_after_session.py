"""Billing that follows the sessions a client actually had, on real RabbitMQ and PostgreSQL with
the application clock placed at chosen instants of the practice's day (America/New_York):
bookings are upcoming charges, the issuing loop invoices each day (or month) once it is over,
and a correction after that is a credit on a later invoice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.billing.tables import BilledAppointment, Invoice, InvoiceCounter
from services.scheduler.tables import AuthorizationView
from shared.clock import FrozenClock
from shared.demo import demo_id
from tests.integration.conftest import System
from tests.integration.test_billing_documents import pdf_text
from tests.integration.test_billing_support import (
    outbox_types,
    set_invoice_mode,
    wait_for_billing_projections,
)
from tests.support import wait_until

NY = ZoneInfo("America/New_York")
FIRST_SESSION = date(2027, 3, 1)  # a Monday; the course crosses the change to summer time
BOOKED_AT = datetime(2027, 2, 26, 9, 0, tzinfo=NY)
JORDAN = demo_id("client-jordan")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


@pytest.fixture
def clocked(system_env: dict[str, str]) -> Iterator[tuple[System, FrozenClock]]:
    system = System(system_env | {"BILLING_ISSUE_INTERVAL": "0.1"})
    system.prepare()
    clock = FrozenClock(BOOKED_AT)
    for name in ("scheduler", "billing"):
        rt = system.runtimes[name]
        rt.clock = rt.emitter.clock = clock
    try:
        system.start("scheduler", "billing")
        wait_for_billing_projections(system)
        yield system, clock
    finally:
        system.shutdown()


def book_course(system: System, sessions: int, first: date = FIRST_SESSION) -> list[dict]:
    booked = booking_of_course(system, sessions, first)
    assert len(booked["booked"]) == sessions, booked
    return list(booked["booked"])


def booking_of_course(system: System, sessions: int, first: date = FIRST_SESSION) -> dict:
    response = system.call(
        "scheduler",
        "POST",
        "/api/v1/courses",
        json={
            "client_id": JORDAN,
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "first_starts_at": at(first, 10).isoformat(),
            "sessions": sessions,
        },
    )
    assert response.status_code == 201, response.json
    return dict(response.json)


def seen_by_billing(system: System, appointment: dict, sequence: int) -> None:
    wait_until(
        lambda: system.count(
            "billing",
            BilledAppointment,
            BilledAppointment.appointment_id == appointment["id"],
            BilledAppointment.sequence >= sequence,
        ),
        message=f"billing to apply sequence {sequence}",
    )


def act(system: System, appointment: dict, action: str, **body: Any) -> dict:
    response = system.call(
        "scheduler", "POST", f"/api/v1/appointments/{appointment['id']}/{action}", json=body
    )
    assert response.status_code == 200, response.json
    return dict(response.json)


def issued(system: System) -> list[dict]:
    items = system.call("billing", "GET", f"/api/v1/invoices?client_id={JORDAN}").json["items"]
    return [i for i in items if i["status"] != "draft"]


def balance(system: System) -> dict:
    return dict(system.call("billing", "GET", f"/api/v1/balances/{JORDAN}").json)


def test_a_course_is_invoiced_the_day_after_each_session_it_had(
    clocked: tuple[System, FrozenClock],
) -> None:
    system, clock = clocked
    course = book_course(system, 12)
    for appointment in course:
        seen_by_billing(system, appointment, 1)

    # Nothing is owed for sessions that have not happened: twelve upcoming charges, no number.
    assert issued(system) == []
    assert system.count("billing", InvoiceCounter) == 0
    before = balance(system)
    assert (before["balance_minor"], before["upcoming_minor"]) == (0, 12 * 16000)
    assert [c["service_date"] for c in before["upcoming"]][:2] == ["2027-03-01", "2027-03-08"]

    # Session 1 is checked in and completed; the day is invoiced once it is over.
    clock.set(at(FIRST_SESSION, 10, 5))
    act(system, course[0], "check-in")
    act(system, course[0], "complete")
    seen_by_billing(system, course[0], 3)
    clock.set(at(FIRST_SESSION, 23, 59))
    time.sleep(0.5)  # several rounds of the issuing loop
    assert issued(system) == []
    clock.set(at(FIRST_SESSION + timedelta(days=1), 0, 1))
    [first] = wait_until(lambda: issued(system), message="the first day's invoice")
    assert (first["number"], first["status"], first["total_minor"]) == (
        "2027-000001",
        "issued",
        16000,
    )
    assert [line["service_date"] for line in first["lines"]] == ["2027-03-01"]

    # Nobody marks session 2: at the end of its day it counts as attended.
    second_day = FIRST_SESSION + timedelta(weeks=1)
    clock.set(at(second_day + timedelta(days=1), 0, 1))
    wait_until(lambda: len(issued(system)) == 2, message="the second day's invoice")
    second = issued(system)[1]
    assert (second["number"], second["total_minor"]) == ("2027-000002", 16000)

    # The next morning the desk marks it a no-show: a credit and the fee, on today's invoice.
    clock.set(at(second_day + timedelta(days=1), 9, 30))
    act(system, course[1], "no-show")
    seen_by_billing(system, course[1], 2)
    after_fix = issued(system)
    assert [(i["number"], i["total_minor"]) for i in after_fix] == [
        ("2027-000001", 16000),
        ("2027-000002", 16000),
    ], "an issued invoice is never rewritten"
    clock.set(at(second_day + timedelta(days=2), 0, 1))
    wait_until(lambda: len(issued(system)) == 3, message="the correction's invoice")
    correction = issued(system)[2]
    assert correction["number"] == "2027-000003"
    assert sorted((line["kind"], line["amount_minor"]) for line in correction["lines"]) == [
        ("credit", -16000),
        ("no_show_fee", 8000),
    ]
    assert correction["total_minor"] == -8000
    now = balance(system)
    assert now["balance_minor"] == 16000 + 16000 - 8000
    assert now["upcoming_minor"] == 10 * 16000
    assert system.count("billing", Invoice, Invoice.number.is_not(None)) == 3


def test_a_client_cancelling_in_time_leaves_no_invoice_and_burns_no_number(
    clocked: tuple[System, FrozenClock],
) -> None:
    system, clock = clocked
    cancelled, kept = book_course(system, 2)
    for appointment in (cancelled, kept):
        seen_by_billing(system, appointment, 1)
    act(system, cancelled, "cancel", cancelled_by="client", reason="moving away")
    seen_by_billing(system, cancelled, 2)
    assert system.count("billing", Invoice) == 1  # only the kept session's draft
    assert balance(system)["upcoming_minor"] == 16000

    clock.set(at(FIRST_SESSION + timedelta(days=1), 0, 1))
    clock.set(at(FIRST_SESSION + timedelta(weeks=1, days=1), 0, 1))
    [invoice] = wait_until(lambda: issued(system), message="the kept session's invoice")
    assert invoice["number"] == "2027-000001"
    assert [line["appointment_id"] for line in invoice["lines"]] == [kept["id"]]
    listed = system.call("billing", "GET", f"/api/v1/invoices?appointment_id={cancelled['id']}")
    assert listed.json["items"] == []


def test_monthly_issues_one_invoice_on_the_first_with_every_session_of_the_month(
    clocked: tuple[System, FrozenClock],
) -> None:
    system, clock = clocked
    set_invoice_mode(system, "monthly")
    course = book_course(system, 6)  # five Mondays in March 2027, one in April
    for appointment in course:
        seen_by_billing(system, appointment, 1)

    clock.set(at(date(2027, 3, 31), 23, 59))
    time.sleep(0.5)
    assert issued(system) == []
    clock.set(at(date(2027, 4, 1), 0, 1))
    [march] = wait_until(lambda: issued(system), message="March's invoice")
    assert march["number"] == "2027-000001"
    assert march["period"] == "2027-03"
    assert [line["service_date"] for line in march["lines"]] == [
        "2027-03-01",
        "2027-03-08",
        "2027-03-15",
        "2027-03-22",
        "2027-03-29",
    ]
    assert march["total_minor"] == 5 * 16000
    left = balance(system)
    assert (left["balance_minor"], left["upcoming_minor"]) == (5 * 16000, 16000)


def test_at_booking_invoices_each_session_when_it_is_booked(
    clocked: tuple[System, FrozenClock],
) -> None:
    system, _ = clocked
    set_invoice_mode(system, "at_booking")
    course = book_course(system, 2)
    wait_until(lambda: len(issued(system)) == 2, message="two prepaid invoices")
    assert sorted(i["number"] for i in issued(system)) == ["2027-000001", "2027-000002"]
    assert balance(system)["upcoming_minor"] == 0
    assert {line["appointment_id"] for i in issued(system) for line in i["lines"]} == {
        a["id"] for a in course
    }


def test_the_invoice_pdf_prints_a_clients_name_as_written_and_the_practices_date(
    clocked: tuple[System, FrozenClock],
) -> None:
    system, clock = clocked
    registered = system.call(
        "scheduler",
        "POST",
        "/api/v1/clients",
        json={
            "first_name": "Łucja",
            "last_name": "Wiśniewska-Nguyễn",
            "time_zone": "Europe/Warsaw",
            "locale": "pl_PL",
        },
    )
    assert registered.status_code == 201, registered.json
    client_id = registered.json["id"]
    booked = system.call(
        "scheduler",
        "POST",
        "/api/v1/appointments",
        json={
            "client_id": client_id,
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": at(FIRST_SESSION, 16).isoformat(),
        },
    )
    assert booked.status_code == 201, booked.json
    seen_by_billing(system, booked.json, 1)
    # Issued at 00:01 New York time, which is already 05:01 UTC: the date is the practice's.
    clock.set(at(FIRST_SESSION + timedelta(days=1), 0, 1))

    def issued_for_her() -> list[dict]:
        path = f"/api/v1/invoices?client_id={client_id}&status=issued"
        return list(system.call("billing", "GET", path).json["items"])

    [invoice] = wait_until(issued_for_her, message="her invoice")
    pdf = system.call("billing", "GET", f"/api/v1/invoices/{invoice['id']}.pdf")
    assert pdf.status_code == 200
    text = pdf_text(pdf.data)
    assert "Billed to: Łucja Wiśniewska-Nguyễn" in text
    assert "Issued: Mar 2, 2027" in text
    assert "$160.00" in text


def test_balances_age_what_is_open_and_add_up_to_the_issued_invoices(
    clocked: tuple[System, FrozenClock],
) -> None:
    system, clock = clocked
    course = book_course(system, 12)  # Mondays from 1 March to 17 May 2027
    for appointment in course:
        seen_by_billing(system, appointment, 1)
    for week in range(12):
        clock.set(at(FIRST_SESSION + timedelta(weeks=week, days=1), 0, 1))
        wait_until(lambda w=week: len(issued(system)) == w + 1, message=f"invoice {week + 1}")
    first = issued(system)[0]
    paid = system.call(
        "billing",
        "POST",
        f"/api/v1/invoices/{first['id']}/payments",
        json={"amount_minor": 6000, "method": "card"},
    )
    assert paid.status_code == 201, paid.json

    clock.set(at(date(2027, 6, 10), 12))
    listed = system.call("billing", "GET", "/api/v1/balances?q=JORD")
    assert listed.status_code == 200, listed.json
    assert listed.json["as_of"] == "2027-06-10"
    [jordan] = listed.json["items"]
    # Issued 2 and 9 March (100 and 93 days), 16 March to 6 April, 13 April to 4 May,
    # 11 and 18 May (30 and 23 days).
    assert jordan["aging"] == {
        "current": 2 * 16000,
        "days_31_60": 4 * 16000,
        "days_61_90": 4 * 16000,
        "days_over_90": 2 * 16000 - 6000,
    }
    everything_issued = sum(i["total_minor"] - i["paid_minor"] for i in issued(system))
    assert jordan["outstanding_minor"] == sum(jordan["aging"].values()) == everything_issued
    assert balance(system)["balance_minor"] == everything_issued
    assert balance(system)["aging"] == jordan["aging"]
    oldest = jordan["invoices"][0]
    assert (oldest["number"], oldest["service_dates"], oldest["age_days"]) == (
        "2027-000001",
        ["2027-03-01"],
        100,
    )
    pdf = system.call("billing", "GET", oldest["links"]["pdf"])
    assert (pdf.status_code, pdf.headers["Content-Type"]) == (200, "application/pdf")
    statement = system.call("billing", "GET", jordan["links"]["statement"])
    assert statement.json["closing_balance_minor"] == everything_issued
    superbill = system.call("billing", "GET", jordan["links"]["superbill"])
    assert len(superbill.json["services"]) == 12

    # Amounts as the desk reads them: Babel, in the practice's currency and locale.
    assert jordan["outstanding_display"] == f"${everything_issued / 100:,.2f}"
    assert oldest["open_display"] == "$100.00"
    assert listed.json["totals"]["aging_display"]["days_over_90"] == "$260.00"
    settings = system.call("billing", "GET", "/api/v1/billing/settings", admin=True).json
    changed = system.call(
        "billing",
        "PUT",
        "/api/v1/billing/settings",
        admin=True,
        json=settings | {"locale": "de_DE"},
    )
    assert changed.status_code == 200, changed.json
    one = system.call("billing", "GET", f"/api/v1/balances/{jordan['client_id']}").json
    assert everything_issued == 186000
    assert one["balance_display"] == "1.860,00\xa0$"
    listed_invoices = system.call(
        "billing", "GET", f"/api/v1/invoices?client_id={jordan['client_id']}"
    ).json["items"]
    assert {i["total_display"] for i in listed_invoices} == {"160,00\xa0$"}
    german = system.call("billing", "GET", "/api/v1/balances?q=JORD").json
    assert german["items"][0]["invoices"][0]["open_display"] == "100,00\xa0$"
    assert german["totals"]["aging_display"]["days_over_90"] == "260,00\xa0$"

    assert system.call("billing", "GET", "/api/v1/balances?q=nobody").json["items"] == []
    too_long = system.call("billing", "GET", "/api/v1/balances?q=" + "x" * 101)
    assert too_long.status_code == 400
    assert too_long.headers["Content-Type"] == "application/problem+json"


def test_an_authorization_for_ten_sessions_warns_for_sessions_eleven_and_twelve_and_counts_ten(
    clocked: tuple[System, FrozenClock],
) -> None:
    system, clock = clocked
    path = f"/api/v1/billing/clients/{JORDAN}/authorizations"
    body = {
        "payer": "Aetna",
        "number": "AUTH-77",
        "cpt_codes": ["90834"],
        "sessions_authorized": 10,
        "valid_from": "2027-03-01",
        "valid_to": "2027-12-31",
    }
    bad_code = system.call("billing", "POST", path, json={**body, "cpt_codes": ["therapy"]})
    assert bad_code.status_code == 422
    assert bad_code.headers["Content-Type"] == "application/problem+json"
    backwards = system.call("billing", "POST", path, json={**body, "valid_to": "2027-02-01"})
    assert backwards.status_code == 422
    unknown = system.call(
        "billing", "POST", "/api/v1/billing/clients/nobody/authorizations", json=body
    )
    assert unknown.status_code == 404
    recorded = system.call("billing", "POST", path, json=body)
    assert recorded.status_code == 201, recorded.json
    authorization_id = recorded.json["id"]
    wait_until(
        lambda: system.count("scheduler", AuthorizationView) == 1,
        message="the scheduler's copy of the authorization",
    )

    booked = booking_of_course(system, 12)  # a warning, never a refusal
    shown = booked["authorization"]
    assert (shown["number"], shown["remaining"]) == ("AUTH-77", 10)
    assert [(w["session"], w["reason"]) for w in shown["warnings"]] == [
        (11, "beyond_count"),
        (12, "beyond_count"),
    ]
    assert "beyond the 10 sessions" in shown["warnings"][0]["message"]
    course = booked["booked"]
    for appointment in course:
        seen_by_billing(system, appointment, 1)

    # Session 1 is checked in at the desk; the others are left unmarked and count as attended.
    clock.set(at(FIRST_SESSION, 10, 5))
    act(system, course[0], "check-in")
    for week in range(12):
        clock.set(at(FIRST_SESSION + timedelta(weeks=week, days=1), 0, 1))
        wait_until(lambda w=week: len(issued(system)) == w + 1, message=f"invoice {week + 1}")

    def authorization() -> dict:
        items = system.call("billing", "GET", f"/api/v1/billing/authorizations?client_id={JORDAN}")
        return dict(items.json["items"][0])

    assert (authorization()["units_used"], authorization()["units_remaining"]) == (10, 0)
    assert authorization()["nearing_end"] == ["last_units"]
    listed = system.call("billing", "GET", "/api/v1/billing/authorizations?nearing_end=true")
    assert [a["id"] for a in listed.json["items"]] == [authorization_id]
    assert outbox_types(system).count("authorization.nearing_end") == 1
    wait_until(
        lambda: system.rows("scheduler", AuthorizationView)[0].units_used == 10,
        message="the scheduler to see ten units used",
    )
    first_pdf = system.call("billing", "GET", f"/api/v1/invoices/{issued(system)[0]['id']}.pdf")
    assert "Insurance authorization: AUTH-77 (Aetna)" in pdf_text(first_pdf.data)
    superbill = system.call(
        "billing", "GET", f"/api/v1/superbills?client_id={JORDAN}&from=2027-03-01&to=2027-05-31"
    ).json
    assert [s["authorization_number"] for s in superbill["services"]] == ["AUTH-77"] * 10 + [
        None,
        None,
    ]

    # Session 10 turns out to be a no-show: its unit is given back.
    act(system, course[9], "no-show")
    seen_by_billing(system, course[9], 2)
    assert authorization()["units_used"] == 9


def test_an_authorization_entering_its_last_fourteen_days_is_flagged_once(
    clocked: tuple[System, FrozenClock],
) -> None:
    system, clock = clocked
    recorded = system.call(
        "billing",
        "POST",
        f"/api/v1/billing/clients/{JORDAN}/authorizations",
        json={
            "payer": "Cigna",
            "number": "C-1",
            "cpt_codes": ["90834"],
            "sessions_authorized": 20,
            "valid_from": "2027-02-01",
            "valid_to": "2027-03-20",  # 22 days after the clock's 26 February
        },
    )
    assert recorded.status_code == 201, recorded.json
    assert recorded.json["nearing_end"] == []

    def flagged() -> list[str]:
        path = "/api/v1/billing/authorizations?nearing_end=true"
        return [a["number"] for a in system.call("billing", "GET", path).json["items"]]

    clock.set(at(date(2027, 3, 5), 23, 59))  # 15 days left
    time.sleep(0.5)
    assert flagged() == []
    assert "authorization.nearing_end" not in outbox_types(system)
    clock.set(at(date(2027, 3, 6), 0, 1))  # 14 days left
    wait_until(
        lambda: "authorization.nearing_end" in outbox_types(system),
        message="the issuing loop to flag it",
    )
    assert flagged() == ["C-1"]
    clock.set(at(date(2027, 3, 7), 0, 1))
    time.sleep(0.5)
    assert outbox_types(system).count("authorization.nearing_end") == 1
    # Corrected but still ending soon: not said again. Extended: no longer flagged.
    path = f"/api/v1/billing/authorizations/{recorded.json['id']}"
    body = {k: recorded.json[k] for k in ("payer", "cpt_codes", "sessions_authorized")}
    body |= {"number": "C-1b", "valid_from": "2027-02-01", "valid_to": "2027-03-20"}
    assert system.call("billing", "PUT", path, json=body).status_code == 200
    extended = system.call("billing", "PUT", path, json={**body, "valid_to": "2027-09-30"})
    assert extended.status_code == 200, extended.json
    assert extended.json["nearing_end"] == []
    assert flagged() == []
    assert outbox_types(system).count("authorization.nearing_end") == 1


def test_a_prepaid_package_is_invoiced_at_booking_and_its_sessions_draw_it_down(
    clocked: tuple[System, FrozenClock],
) -> None:
    system, clock = clocked
    fee = system.call(
        "billing",
        "PUT",
        f"/api/v1/fee-schedule/{demo_id('ipt-session')}",
        admin=True,
        json={
            "amount_minor": 16000,
            "currency": "USD",
            "package_price_minor": 45000,
            "package_sessions": 3,
            "package_prepaid": True,
        },
    )
    assert fee.status_code == 200, fee.json
    course = book_course(system, 4)
    for appointment in course:
        seen_by_billing(system, appointment, 1)

    [package] = wait_until(lambda: issued(system), message="the package's invoice")
    assert (package["number"], package["total_minor"]) == ("2027-000001", 45000)
    assert [line["kind"] for line in package["lines"]] == ["package"]
    before = balance(system)
    assert before["balance_minor"] == 45000
    # Sessions 1-3 are paid for by the package; session 4 is beyond it.
    assert [c["amount_minor"] for c in before["upcoming"]] == [0, 0, 0, 16000]

    clock.set(at(FIRST_SESSION + timedelta(days=1), 0, 1))
    wait_until(lambda: len(issued(system)) == 2, message="the first session's invoice")
    first_session = issued(system)[1]
    assert first_session["total_minor"] == 0
    assert "prepaid course package, session 1 of 3" in first_session["lines"][0]["description"]
    assert balance(system)["balance_minor"] == 45000


def test_a_session_moved_to_another_day_is_invoiced_on_that_day(
    clocked: tuple[System, FrozenClock],
) -> None:
    system, clock = clocked
    [appointment] = [book_course(system, 2)[0]]
    seen_by_billing(system, appointment, 1)
    moved_to = FIRST_SESSION + timedelta(days=2)  # Wednesday
    act(system, appointment, "reschedule", starts_at=at(moved_to, 11).isoformat())
    seen_by_billing(system, appointment, 2)
    [charge] = [c for c in balance(system)["upcoming"] if c["appointment_id"] == appointment["id"]]
    assert charge["service_date"] == moved_to.isoformat()

    clock.set(at(FIRST_SESSION + timedelta(days=1), 0, 1))
    time.sleep(0.5)
    assert issued(system) == []  # nothing left on Monday's invoice, and no number used for it
    clock.set(at(moved_to + timedelta(days=1), 0, 1))
    [invoice] = wait_until(lambda: issued(system), message="Wednesday's invoice")
    assert (invoice["number"], invoice["period"]) == ("2027-000001", moved_to.isoformat())


def test_a_late_cancellation_replaces_the_upcoming_session_with_the_fee(
    clocked: tuple[System, FrozenClock],
) -> None:
    system, clock = clocked
    appointment = book_course(system, 2)[0]
    seen_by_billing(system, appointment, 1)
    clock.set(at(FIRST_SESSION, 8))  # two hours before: inside the 24-hour window
    act(system, appointment, "cancel", cancelled_by="client", reason="overslept")
    seen_by_billing(system, appointment, 2)
    assert issued(system) == []
    clock.set(at(FIRST_SESSION + timedelta(days=1), 0, 1))
    [invoice] = wait_until(lambda: issued(system), message="the day's invoice")
    assert [(line["kind"], line["amount_minor"]) for line in invoice["lines"]] == [
        ("late_cancellation_fee", 8000)
    ]
