"""The embedded default's retries: kombu's in-memory transport has no message TTL, so a pump
puts failed events back on the service queue when their delay is up. A failing handler there
must be retried, and succeed once its cause is fixed, just as on RabbitMQ."""

from __future__ import annotations

import uuid
from pathlib import Path

from prometheus_client import REGISTRY
from sqlalchemy import delete, func, select
from werkzeug.test import Client

from services.billing.tables import Fee, InvoiceLine, ServiceTypeView
from services.embedded import EmbeddedSystem
from services.scheduler.demo import DEMO_ADMIN, DEMO_LOGIN
from shared.demo import demo_id
from tests.support import days_ahead, wait_until


def _retried() -> float:
    labels = {"service": "billing", "type": "appointment.booked", "outcome": "retried"}
    return REGISTRY.get_sample_value("rapport_events_consumed_total", labels) or 0.0


def test_a_failing_handler_is_retried_on_the_in_memory_bus(tmp_path: Path) -> None:
    system = EmbeddedSystem(
        {
            "RAPPORT_VAR_DIR": str(tmp_path),
            "RAPPORT_EXCHANGE": f"rapport.test-{uuid.uuid4().hex[:8]}",
            "RAPPORT_RETRY_DELAYS": "0.3",
            "RAPPORT_MAX_ATTEMPTS": "50",
            "RAPPORT_LOG_LEVEL": "WARNING",
        }
    )
    billing = system.runtimes["billing"]
    system.migrate()
    system.seed_demo()
    with billing.db.transaction() as session:
        session.execute(delete(Fee).where(Fee.service_type_id == demo_id("ipt-group")))
    system.start_workers()
    try:
        http = Client(system.wsgi_app())

        def token(login: tuple[str, str]) -> dict[str, str]:
            answer = http.post(
                "/api/v1/auth/token", json=dict(zip(("email", "password"), login, strict=True))
            )
            return {"Authorization": f"Bearer {answer.json['access_token']}"}

        def count(model: type, *where: object) -> int:
            with billing.db.sessions() as session:
                return int(session.scalar(select(func.count()).select_from(model).where(*where)))

        wait_until(lambda: count(ServiceTypeView) == 4, message="billing's service types")
        retried_before = _retried()
        starts_at = days_ahead(5, hour=10)
        booked = http.post(
            "/api/v1/appointments",
            headers=token(DEMO_LOGIN),
            json={
                "client_id": demo_id("client-jordan"),
                "practitioner_id": demo_id("dr-rivera"),
                "service_type_id": demo_id("ipt-group"),
                "starts_at": starts_at.isoformat(),
            },
        )
        assert booked.status_code == 201, booked.json
        appointment_id = booked.json["id"]

        wait_until(lambda: _retried() >= retried_before + 2, message="two retries")
        assert count(InvoiceLine, InvoiceLine.appointment_id == appointment_id) == 0

        fixed = http.put(
            f"/api/v1/fee-schedule/{demo_id('ipt-group')}",
            headers=token(DEMO_ADMIN),
            json={"amount_minor": 7500, "currency": "USD"},
        )
        assert fixed.status_code == 200, fixed.json
        wait_until(
            lambda: count(InvoiceLine, InvoiceLine.appointment_id == appointment_id) == 1,
            message="the invoice once the fee is set",
        )
    finally:
        system.stop()
