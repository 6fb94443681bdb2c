"""The edge on real PostgreSQL: hostile input changes nothing and gets a 4xx problem, and a
database that cannot be reached is a 503 with Retry-After, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from services.bootstrap import bootstrap
from services.scheduler.tables import Appointment, Client
from shared.auth import Principal, issue_token
from shared.demo import demo_id
from shared.web import create_service_app
from tests.integration.test_scheduler_support import SchedulerSystem, scheduler_only
from tests.support import days_ahead, now, service_env


@pytest.fixture
def sched(system_env: dict[str, str]) -> Iterator[SchedulerSystem]:
    with scheduler_only(system_env) as s:
        yield s


def test_a_nul_in_a_booking_or_a_client_is_refused_and_nothing_is_stored(
    sched: SchedulerSystem,
) -> None:
    clients_before = sched.count("scheduler", Client)
    created = sched.call(
        "scheduler",
        "POST",
        "/api/v1/clients",
        json={"first_name": "Ann\x00", "last_name": "Lee", "time_zone": "America/New_York"},
    )
    assert created.status_code == 422, created.json
    assert "first_name" in created.json["detail"]
    booked = sched.call(
        "scheduler",
        "POST",
        "/api/v1/appointments",
        json={
            "client_id": demo_id("client-jordan") + "\x00",
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": days_ahead(3).isoformat(),
        },
    )
    assert booked.status_code == 422
    searched = sched.call("scheduler", "GET", "/api/v1/appointments?client_id=%00")
    assert searched.status_code == 400
    deep = sched.call(
        "scheduler",
        "POST",
        "/api/v1/appointments",
        data="[" * 50_000 + "]" * 50_000,
        content_type="application/json",
    )
    assert deep.status_code == 400
    assert sched.count("scheduler", Client) == clients_before
    assert sched.count("scheduler", Appointment) == 0


def test_an_unreachable_database_is_a_503_with_retry_after(system_env: dict[str, str]) -> None:
    env = service_env(
        system_env["RAPPORT_BROKER_URL"],
        {"scheduler": "postgresql+psycopg://postgres@127.0.0.1:1/gone?connect_timeout=2"},
    )
    rt = bootstrap("scheduler", env=env)
    app = create_service_app(rt)
    desk = Principal("u-1", "desk@example.com", "front_desk", "Desk")
    token = issue_token(rt.settings.secret_key, desk, now(), timedelta(hours=1))
    try:
        response = app.test_client().get(
            "/api/v1/clients", headers={"Authorization": f"Bearer {token}"}
        )
    finally:
        rt.db.dispose()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json["title"] == "Service unavailable"
