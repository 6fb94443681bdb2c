"""Invoices and superbills as documents a client or an insurer reads: HTML and PDF (read back
with pypdf), with the practice's and practitioner's identifiers and the client's diagnoses."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from pypdf import PdfReader

from shared.demo import demo_id
from tests.integration.conftest import System
from tests.integration.test_billing_support import (
    Appointment,
    invoice_when_booked,
    invoices_of,
    next_week,
    publish,
    wait_for_billing_projections,
)
from tests.support import PRACTICE_ZONE, wait_until

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_an_invoice_prints_as_html_and_pdf_with_its_number_and_total(system: System) -> None:
    system.start("scheduler", "billing")
    wait_for_billing_projections(system)
    invoice_when_booked(system)
    appointment = Appointment(next_week())
    publish(system, appointment.booked())
    [invoice] = wait_until(lambda: invoices_of(system, appointment.id), message="the invoice")

    pdf = system.call("billing", "GET", f"/api/v1/invoices/{invoice['id']}.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["Content-Type"] == "application/pdf"
    text = pdf_text(pdf.data)
    assert invoice["number"] in text
    assert "$160.00" in text
    assert "Harbour Street Therapy" in text

    negotiated = system.call(
        "billing",
        "GET",
        f"/api/v1/invoices/{invoice['id']}",
        headers={"Accept": "application/pdf"},
    )
    assert negotiated.headers["Content-Type"] == "application/pdf"
    assert invoice["number"] in pdf_text(negotiated.data)

    html = system.call("billing", "GET", f"/api/v1/invoices/{invoice['id']}.html")
    assert html.status_code == 200
    assert html.headers["Content-Type"].startswith("text/html")
    page = html.get_data(as_text=True)
    assert f"Invoice {invoice['number']}" in page
    assert "$160.00" in page and "90834" in page

    missing = system.call("billing", "GET", "/api/v1/invoices/nope.pdf")
    assert missing.status_code == 404


def test_a_superbill_lists_sessions_with_codes_identifiers_and_payments(system: System) -> None:
    system.start("scheduler", "billing")
    wait_for_billing_projections(system)
    invoice_when_booked(system)
    client_id = demo_id("client-jordan")
    profile_path = f"/api/v1/billing/clients/{client_id}/profile"
    bad = system.call(
        "billing", "PUT", profile_path, admin=True, json={"diagnosis_codes": ["F32.1", "depressed"]}
    )
    assert bad.status_code == 422
    assert "depressed" in bad.json["detail"]
    profile = {
        "diagnosis_codes": ["f32.1", "Z63.0"],
        "date_of_birth": "1990-04-02",
        "insurance_member_id": "XYZ123456",
    }
    assert system.call("billing", "PUT", profile_path, json=profile).status_code == 403
    saved = system.call("billing", "PUT", profile_path, admin=True, json=profile)
    assert saved.status_code == 200, saved.json
    assert saved.json["diagnosis_codes"] == ["F32.1", "Z63.0"]
    npi = system.call(
        "billing",
        "PUT",
        f"/api/v1/billing/practitioners/{demo_id('dr-rivera')}/identifiers",
        admin=True,
        json={"npi": "1245319599"},
    )
    assert npi.status_code == 200, npi.json

    sessions = [Appointment(next_week() + timedelta(days=7 * i)) for i in range(2)]
    outside = Appointment(next_week() + timedelta(days=60))
    publish(system, *(s.booked() for s in [*sessions, outside]))
    wait_until(
        lambda: all(invoices_of(system, s.id) for s in [*sessions, outside]),
        message="the invoices",
    )
    first_invoice = invoices_of(system, sessions[0].id)[0]
    paid = system.call(
        "billing",
        "POST",
        f"/api/v1/invoices/{first_invoice['id']}/payments",
        json={"amount_minor": 16000, "method": "card"},
    )
    assert paid.status_code == 201, paid.json

    # Dates of the practice's calendar: the superbill's period is read in its zone, and starts
    # on the day the payment above was recorded there.
    start = sessions[0].starts_at.astimezone(PRACTICE_ZONE).date()
    end = sessions[1].starts_at.astimezone(PRACTICE_ZONE).date()
    paid_on = datetime.fromisoformat(paid.json["recorded_at"]).astimezone(PRACTICE_ZONE).date()
    query = f"/api/v1/superbills?client_id={client_id}&from={paid_on}&to={end}"
    superbill = system.call("billing", "GET", query)
    assert superbill.status_code == 200, superbill.json
    doc = superbill.json
    assert doc["practice"]["npi"] == "1234567893" and doc["practice"]["tax_id"] == "12-3456789"
    assert doc["diagnosis_codes"] == ["F32.1", "Z63.0"]
    assert [(s["date"], s["cpt_code"], s["fee_minor"]) for s in doc["services"]] == [
        (start.isoformat(), "90834", 16000),
        (end.isoformat(), "90834", 16000),
    ]
    assert {s["practitioner_npi"] for s in doc["services"]} == {"1245319599"}
    assert (doc["total_charged_minor"], doc["total_paid_minor"]) == (32000, 16000)

    pdf = system.call("billing", "GET", query + "&format=pdf")
    assert pdf.headers["Content-Type"] == "application/pdf"
    text = pdf_text(pdf.data)
    for expected in ("Superbill", "F32.1", "Z63.0", "90834", "1245319599", "12-3456789"):
        assert expected in text, expected

    backwards = system.call(
        "billing", "GET", f"/api/v1/superbills?client_id={client_id}&from={end}&to={start}"
    )
    assert backwards.status_code == 400
