"""The thin slice over HTTP, with every service's web and worker as separate real processes."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from shared.demo import demo_id
from tests.e2e.conftest import Deployment
from tests.support import days_ahead, now, wait_until

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock


def _next_slot(days: int) -> str:
    start = days_ahead(days, hour=10)
    return start.isoformat()


def test_a_booking_reaches_the_notifier_and_billing(deployment: Deployment) -> None:
    token = deployment.sign_in()
    deployment.invoice_when_booked()
    booking = {
        "client_id": demo_id("client-priya"),
        "practitioner_id": demo_id("sam-okafor"),
        "service_type_id": demo_id("ipt-intake"),
        "starts_at": _next_slot(5),
    }
    response = deployment.post(
        "scheduler",
        "/api/v1/appointments",
        token,
        json=booking,
        headers={"Idempotency-Key": "e2e-booking-1"},
    )
    assert response.status_code == 201, response.text
    appointment = response.json()
    assert response.headers["Location"] == f"/api/v1/appointments/{appointment['id']}"

    # A retried request (same Idempotency-Key) gets the first answer and books nothing new.
    retried = deployment.post(
        "scheduler",
        "/api/v1/appointments",
        token,
        json=booking,
        headers={"Idempotency-Key": "e2e-booking-1"},
    )
    assert retried.status_code == 201
    assert retried.json()["id"] == appointment["id"]
    assert retried.headers.get("Idempotent-Replayed") == "true"

    invoices = wait_until(
        lambda: deployment.get(
            "billing", "/api/v1/invoices", token, params={"appointment_id": appointment["id"]}
        ).json()["items"],
        message="the invoice in billing",
    )
    assert [(i["total_minor"], i["currency"], i["lines"][0]["cpt_code"]) for i in invoices] == [
        (22000, "USD", "90791")
    ]
    reminders = wait_until(
        lambda: deployment.get(
            "notifier", "/api/v1/reminders", token, params={"appointment_id": appointment["id"]}
        ).json()["items"],
        message="the reminder plan in the notifier",
    )
    assert {r["channel"] for r in reminders} == {"sms", "email"}
    shown = wait_until(
        lambda: (
            (
                a := deployment.get(
                    "scheduler", f"/api/v1/appointments/{appointment['id']}", token
                ).json()
            )["invoice_number"]
            and a["reminders_planned"] == len(reminders)
            and a
        ),
        # Billing's and the notifier's events reach the scheduler each in their own time.
        message="the invoice number and the planned reminders at the desk",
    )
    assert shown["invoice_number"] == invoices[0]["number"]


def test_bad_input_gets_a_problem_document_and_changes_nothing(deployment: Deployment) -> None:
    token = deployment.sign_in()
    before = deployment.get("scheduler", "/api/v1/appointments", token).json()["items"]
    response = deployment.post(
        "scheduler",
        "/api/v1/appointments",
        token,
        json={
            "client_id": demo_id("client-jordan"),
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": "2020-01-01T10:00:00",
        },
    )
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "starts_at"
    assert deployment.get("scheduler", "/api/v1/appointments", token).json()["items"] == before


def test_every_service_needs_a_token_and_accepts_the_schedulers(deployment: Deployment) -> None:
    token = deployment.sign_in()
    for service, path in (
        ("scheduler", "/api/v1/appointments"),
        ("notifier", f"/api/v1/reminders?client_id={demo_id('client-jordan')}"),
        ("billing", "/api/v1/invoices"),
    ):
        anonymous = requests.get(deployment.web[service] + path, timeout=10)
        assert anonymous.status_code == 401, service
        assert anonymous.headers["Content-Type"] == "application/problem+json"
        forged = deployment.get(service, path, token[:-4] + "AAAA")
        assert forged.status_code == 401, service
        assert deployment.get(service, path, token).status_code == 200, service


def test_every_process_reads_the_suites_clock(deployment: Deployment) -> None:
    # RAPPORT_TEST_NOW places the suite and every service process it starts at one instant.
    for service, url in deployment.web.items():
        for _ in range(4):  # both gunicorn workers, whichever answers
            health = requests.get(f"{url}/healthz", timeout=5).json()
            assert abs(datetime.fromisoformat(health["now"]) - now()) < timedelta(seconds=30), (
                service
            )


def test_health_readiness_and_metrics(deployment: Deployment) -> None:
    for service, url in deployment.web.items():
        assert requests.get(f"{url}/healthz", timeout=5).json()["status"] == "ok"
        ready = requests.get(f"{url}/readyz", timeout=5).json()
        assert ready["checks"] == {"database": True, "broker": True}, service
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert f'rapport_outbox_backlog{{service="{service}"}}' in metrics
        assert "rapport_http_requests_total" in metrics
    billing_worker = requests.get(deployment.worker_metrics["billing"], timeout=5).text
    assert 'rapport_events_consumed_total{outcome="processed",service="billing"' in billing_worker


def test_one_correlation_id_follows_a_booking_through_every_service(
    deployment: Deployment,
) -> None:
    token = deployment.sign_in()
    correlation_id = f"e2e-{uuid.uuid4()}"
    response = deployment.post(
        "scheduler",
        "/api/v1/appointments",
        token,
        headers={"X-Correlation-ID": correlation_id},
        json={
            "client_id": demo_id("client-jordan"),
            "practitioner_id": demo_id("sam-okafor"),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": _next_slot(9),
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["X-Correlation-ID"] == correlation_id

    def handled_in(log_name: str) -> list[dict[str, object]]:
        lines = (deployment.logs / f"{log_name}.log").read_text().splitlines()
        entries = [json.loads(line) for line in lines if line.startswith("{")]
        return [e for e in entries if e.get("correlation_id") == correlation_id]

    wait_until(
        lambda: (
            any(e["message"] == "event handled" for e in handled_in("billing-worker"))
            and any(e["message"] == "event handled" for e in handled_in("notifier-worker"))
            and any(e["message"] == "event handled" for e in handled_in("scheduler-worker"))
        ),
        message="every worker to log the booking's correlation id",
    )
    web = handled_in("scheduler-web")
    assert [(e["route"], e["status"]) for e in web] == [("/api/v1/appointments", 201)]

    everything = "".join(p.read_text() for p in deployment.logs.glob("*.log"))
    assert token not in everything
    assert "rapport-demo" not in everything  # the demo password


def test_metrics_add_up_across_gunicorn_workers(deployment: Deployment) -> None:
    """Each web runs two gunicorn workers; one scrape must count the requests of both."""
    token = deployment.sign_in()

    def served() -> float:
        text = requests.get(f"{deployment.web['billing']}/metrics", timeout=5).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "rapport_http_requests_total"
            and sample.labels.get("route") == "/api/v1/fee-schedule"
            and sample.labels.get("status") == "200"
        )

    before = served()
    for _ in range(40):
        # A new connection each time, so that both workers take some of them.
        assert (
            requests.get(
                f"{deployment.web['billing']}/api/v1/fee-schedule",
                timeout=5,
                headers={"Authorization": f"Bearer {token}"},
            ).status_code
            == 200
        )
    assert served() - before == 40
