"""Payments, refunds, waivers, balances, the audit trail and billing's metrics, through the API
on real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from shared.demo import demo_id
from tests.integration.conftest import System
from tests.integration.test_billing_support import (
    Appointment,
    invoice_when_booked,
    invoices_of,
    next_week,
    outbox_types,
    publish,
    wait_for_billing_projections,
)
from tests.support import wait_until

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def an_invoice(system: System) -> dict:
    system.start("scheduler", "billing")
    wait_for_billing_projections(system)
    invoice_when_booked(system)
    appointment = Appointment(next_week())
    publish(system, appointment.booked())
    [invoice] = wait_until(lambda: invoices_of(system, appointment.id), message="the invoice")
    return invoice


def pay(system: System, invoice_id: str, amount: int, key: str | None = None, **kw: object):
    headers = {"Idempotency-Key": key} if key else {}
    return system.call(
        "billing",
        "POST",
        f"/api/v1/invoices/{invoice_id}/payments",
        json={"amount_minor": amount, "method": "card", "reference": "pos-1", **kw},
        headers=headers,
    )


def test_partial_payments_take_an_invoice_to_paid(system: System) -> None:
    invoice = an_invoice(system)
    collected_before = metric("rapport_billing_collected_minor_total", currency="USD")

    first = pay(system, invoice["id"], 6000, key="first-payment")
    assert first.status_code == 201, first.json
    assert first.json["invoice"]["status"] == "partly_paid"
    assert first.json["invoice"]["balance_minor"] == 10000
    assert metric("rapport_billing_outstanding_minor", currency="USD") == 10000
    assert metric("rapport_billing_invoices", state="partly_paid") == 1
    replayed = pay(system, invoice["id"], 6000, key="first-payment")
    assert replayed.json["id"] == first.json["id"]

    too_much = pay(system, invoice["id"], 10001)
    assert too_much.status_code == 409
    assert too_much.headers["Content-Type"] == "application/problem+json"
    assert "$100.00 still owed" in too_much.json["detail"]

    second = pay(system, invoice["id"], 10000, method="cash")
    assert second.status_code == 201, second.json
    assert second.json["invoice"]["status"] == "paid"
    after = system.call("billing", "GET", f"/api/v1/invoices/{invoice['id']}").json
    assert (after["status"], after["paid_minor"]) == ("paid", 16000)
    assert [p["amount_minor"] for p in after["payments"]] == [6000, 10000]

    listed = system.call("billing", "GET", f"/api/v1/payments?invoice_id={invoice['id']}").json
    assert [(p["amount_minor"], p["method"]) for p in listed["items"]] == [
        (6000, "card"),
        (10000, "cash"),
    ]
    types = outbox_types(system)
    assert types.count("payment.recorded") == 2
    assert types.count("invoice.paid") == 1
    assert metric("rapport_billing_collected_minor_total", currency="USD") == (
        collected_before + 16000
    )
    assert metric("rapport_billing_invoices", state="paid") == 1
    assert metric("rapport_billing_outstanding_minor", currency="USD") == 0


def test_a_refund_needs_an_admin_and_reopens_the_balance(system: System) -> None:
    invoice = an_invoice(system)
    assert pay(system, invoice["id"], 16000).status_code == 201
    refund = {"amount_minor": 4000, "method": "card", "reference": "goodwill"}
    path = f"/api/v1/invoices/{invoice['id']}/refunds"

    assert system.call("billing", "POST", path, json=refund).status_code == 403
    done = system.call("billing", "POST", path, admin=True, json=refund)
    assert done.status_code == 201, done.json
    assert done.json["invoice"]["status"] == "partly_paid"

    client_id = demo_id("client-jordan")
    balance = system.call("billing", "GET", f"/api/v1/balances/{client_id}").json
    assert balance == {
        "client_id": client_id,
        "currency": "USD",
        "invoiced_minor": 16000,
        "paid_minor": 16000,
        "refunded_minor": 4000,
        "balance_minor": 4000,
        "aging": {"current": 4000, "days_31_60": 0, "days_61_90": 0, "days_over_90": 0},
        "upcoming_minor": 0,
        "upcoming": [],
        # The same amounts as the desk shows them (Babel, the practice's locale).
        "invoiced_display": "$160.00",
        "paid_display": "$160.00",
        "refunded_display": "$40.00",
        "balance_display": "$40.00",
        "upcoming_display": "$0.00",
    }
    statement = system.call("billing", "GET", f"/api/v1/balances/{client_id}/statement").json
    assert [(e["kind"], e["balance_minor"]) for e in statement["entries"]] == [
        ("invoice", 16000),
        ("payment", 0),
        ("refund", 4000),
    ]
    assert statement["closing_balance_minor"] == 4000

    audit = system.call(
        "billing", "GET", f"/api/v1/billing/audit?entity_id={invoice['id']}", admin=True
    )
    actions = [entry["action"] for entry in audit.json["items"]]
    assert actions[:2] == ["refund_recorded", "payment_recorded"]
    assert "invoice_issued" in actions
    assert system.call("billing", "GET", "/api/v1/billing/audit").status_code == 403


def test_an_admin_waives_a_late_cancellation_fee_with_a_reason(system: System) -> None:
    system.start("scheduler", "billing")
    wait_for_billing_projections(system)
    invoice_when_booked(system)
    waived_before = metric("rapport_billing_fees_waived_total", kind="late_cancellation_fee")
    appointment = Appointment(next_week())
    publish(system, appointment.booked())
    wait_until(lambda: invoices_of(system, appointment.id), message="the invoice")
    publish(system, appointment.cancelled(2, by="client", late=True))
    [invoice] = wait_until(
        lambda: [i for i in invoices_of(system, appointment.id) if i["total_minor"] == 8000],
        message="the late-cancellation fee",
    )
    fee_line = next(line for line in invoice["lines"] if line["status"] == "active")
    path = f"/api/v1/invoices/{invoice['id']}/lines/{fee_line['id']}/waive"

    assert system.call("billing", "POST", path, json={"reason": "bereavement"}).status_code == 403
    missing_reason = system.call("billing", "POST", path, admin=True, json={})
    assert missing_reason.status_code == 422
    waived = system.call("billing", "POST", path, admin=True, json={"reason": "bereavement"})
    assert waived.status_code == 200, waived.json
    assert waived.json["total_minor"] == 0
    again = system.call("billing", "POST", path, admin=True, json={"reason": "twice"})
    assert again.status_code == 409
    assert metric("rapport_billing_fees_waived_total", kind="late_cancellation_fee") == (
        waived_before + 1
    )
    audit = system.call(
        "billing", "GET", f"/api/v1/billing/audit?entity_id={invoice['id']}", admin=True
    ).json["items"]
    assert audit[0]["action"] == "fee_waived" and audit[0]["reason"] == "bereavement"


def test_fee_schedule_and_policy_changes_need_an_admin_and_are_validated(system: System) -> None:
    service_type = demo_id("ipt-session")
    body = {"amount_minor": 17000, "currency": "USD"}
    path = f"/api/v1/fee-schedule/{service_type}"
    assert system.call("billing", "PUT", path, json=body).status_code == 403
    wrong_currency = system.call(
        "billing", "PUT", path, admin=True, json={**body, "currency": "EUR"}
    )
    assert wrong_currency.status_code == 422
    half_package = system.call(
        "billing", "PUT", path, admin=True, json={**body, "package_price_minor": 100000}
    )
    assert half_package.status_code == 422
    assert system.call("billing", "PUT", path, admin=True, json=body).status_code == 200
    fees = system.call("billing", "GET", "/api/v1/fee-schedule").json["items"]
    assert {f["service_type_id"]: f["amount_minor"] for f in fees}[service_type] == 17000

    policy = {
        "late_cancellation": {"kind": "percent", "value": 150},
        "no_show": {"kind": "fixed", "value": 5000},
    }
    refused = system.call(
        "billing", "PUT", "/api/v1/billing/cancellation-policy", admin=True, json=policy
    )
    assert refused.status_code == 422
    policy["late_cancellation"]["value"] = 25
    saved = system.call(
        "billing", "PUT", "/api/v1/billing/cancellation-policy", admin=True, json=policy
    )
    assert saved.status_code == 200, saved.json
    shown = system.call("billing", "GET", "/api/v1/billing/cancellation-policy").json
    assert shown["late_cancellation"] == {
        "kind": "percent",
        "value": 25,
        "display": "25% of the session fee",
    }
    assert shown["no_show"] == {"kind": "fixed", "value": 5000, "display": "$50.00"}

    settings = system.call("billing", "GET", "/api/v1/billing/settings").json
    euro = system.call(
        "billing",
        "PUT",
        "/api/v1/billing/settings",
        admin=True,
        json={**settings, "currency": "EUR"},
    )
    assert euro.status_code == 409
    assert "USD" in euro.json["detail"]
    bad_zone = system.call(
        "billing",
        "PUT",
        "/api/v1/billing/settings",
        admin=True,
        json={**settings, "time_zone": "Mars/Olympus"},
    )
    assert bad_zone.status_code == 422
    assert system.call("billing", "GET", "/api/v1/billing/settings").json == settings
