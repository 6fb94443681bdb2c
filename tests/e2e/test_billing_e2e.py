"""Billing as real processes: a booking at the desk is invoiced by the billing worker, paid at
the billing web (gunicorn), printed as a PDF, and counted in both processes' metrics."""

from __future__ import annotations

import io

import pytest
import requests
from pypdf import PdfReader

from shared.demo import demo_id
from tests.e2e.conftest import Deployment
from tests.support import days_ahead, wait_until

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock


def test_a_booking_is_invoiced_paid_and_printed(deployment: Deployment) -> None:
    token = deployment.sign_in()
    deployment.invoice_when_booked()
    starts_at = days_ahead(9, hour=11)
    booked = deployment.post(
        "scheduler",
        "/api/v1/appointments",
        token,
        json={
            "client_id": demo_id("client-jordan"),
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": starts_at.isoformat(),
        },
        headers={"Idempotency-Key": "e2e-billing-1"},
    )
    assert booked.status_code == 201, booked.text
    [invoice] = wait_until(
        lambda: deployment.get(
            "billing", "/api/v1/invoices", token, params={"appointment_id": booked.json()["id"]}
        ).json()["items"],
        message="the invoice",
    )
    assert (invoice["status"], invoice["total_minor"]) == ("issued", 16000)

    paid = deployment.post(
        "billing",
        f"/api/v1/invoices/{invoice['id']}/payments",
        token,
        json={"amount_minor": 16000, "method": "card", "reference": "terminal-7"},
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["invoice"]["status"] == "paid"

    pdf = deployment.get("billing", f"/api/v1/invoices/{invoice['id']}.pdf", token)
    assert pdf.headers["Content-Type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert invoice["number"] in text and "$160.00" in text

    web_metrics = deployment.get("billing", "/metrics", token).text
    assert 'rapport_billing_collected_minor_total{currency="USD"} 16000.0' in web_metrics
    assert 'rapport_billing_invoices{state="paid"} 1.0' in web_metrics
    worker_metrics = wait_until(
        lambda: (
            text
            if 'rapport_billing_invoices{state="paid"} 1.0'
            in (text := requests.get(deployment.worker_metrics["billing"], timeout=5).text)
            else None
        ),
        message="invoices by state in the worker's metrics",
    )
    assert 'rapport_billing_invoiced_minor_total{currency="USD"}' in worker_metrics
