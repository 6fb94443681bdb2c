"""No double booking under real concurrency: 50 simultaneous requests for one slot against a
real gunicorn scheduler (two processes, four threads each) on PostgreSQL. Exactly one wins;
every other request gets a 409 naming the conflicting time. Requests repeating one
Idempotency-Key all get the first request's answer."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from services.bootstrap import bootstrap
from services.scheduler.demo import DEMO_LOGIN
from services.scheduler.tables import Appointment
from shared.demo import demo_id
from tests.e2e.conftest import Processes
from tests.support import (
    PRACTICE_ZONE,
    days_ahead,
    free_port,
    fresh_databases,
    fresh_vhost,
    service_env,
    wait_until,
)

CONCURRENT = 50


@pytest.fixture(scope="module")
def scheduler_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    with fresh_vhost() as broker, fresh_databases() as databases:
        env = service_env(broker, databases)
        processes = Processes(env, tmp_path_factory.mktemp("scheduler-concurrency"))
        processes.run("migrate", "scheduler")
        rt = bootstrap("scheduler", env=env)
        assert rt.service.seed_demo is not None
        rt.service.seed_demo(rt)
        rt.db.dispose()
        port = free_port()
        processes.start(
            "scheduler-web", "web", "scheduler", "--bind", f"127.0.0.1:{port}", "--workers", "2"
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: _healthy(url), timeout=30, message="the scheduler to answer")
            yield url, env
        except BaseException:
            print(processes.log_tail())
            raise
        finally:
            processes.stop_all()


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _token(url: str) -> str:
    response = requests.post(
        f"{url}/api/v1/auth/token",
        json={"email": DEMO_LOGIN[0], "password": DEMO_LOGIN[1]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _fire(url: str, requests_: list[tuple[dict[str, Any], dict[str, str]]]) -> list[Any]:
    """Send every request at once (one thread each) and return the responses in order."""

    def send(item: tuple[dict[str, Any], dict[str, str]]) -> requests.Response:
        body, headers = item
        return requests.post(f"{url}/api/v1/appointments", json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=len(requests_)) as pool:
        return list(pool.map(send, requests_))


def _active_count(env: dict[str, str], starts_at: datetime) -> int:
    rt = bootstrap("scheduler", env=env)
    try:
        with rt.db.sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(Appointment)
                    .where(Appointment.starts_at == starts_at, Appointment.status == "booked")
                )
                or 0
            )
    finally:
        rt.db.dispose()


def test_fifty_concurrent_bookings_of_one_slot_make_one_appointment(
    scheduler_web: tuple[str, dict[str, str]],
) -> None:
    url, env = scheduler_web
    auth = {"Authorization": f"Bearer {_token(url)}"}
    starts_at = days_ahead(9, hour=10)
    clients = ["client-jordan", "client-priya", "client-marek"]
    # Every request is for the same practitioner and time; clients vary, so the practitioner's
    # constraint is the one that must hold.
    batch = [
        (
            {
                "client_id": demo_id(clients[i % 3]),
                "practitioner_id": demo_id("dr-rivera"),
                "service_type_id": demo_id("ipt-session"),
                "starts_at": starts_at.isoformat(),
            },
            auth,
        )
        for i in range(CONCURRENT)
    ]
    responses = _fire(url, batch)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (CONCURRENT - 1), statuses
    winner = next(r for r in responses if r.status_code == 201).json()
    for response in responses:
        if response.status_code == 409:
            problem = response.json()
            assert response.headers["Content-Type"].startswith("application/problem+json")
            assert problem["conflicting_starts_at"] == starts_at.isoformat()
            assert problem["conflicting_appointment_id"] == winner["id"]
            # The desk reads the conflicting time on the practice's clock.
            local = starts_at.astimezone(PRACTICE_ZONE)
            shown = f"{local.hour % 12 or 12}:{local:%M %p} {local.tzname()} on {local:%A, %B}"
            assert f"{shown} {local.day}, {local.year}" in problem["detail"], problem["detail"]
    assert _active_count(env, starts_at) == 1


def test_concurrent_retries_with_one_idempotency_key_get_the_first_answer(
    scheduler_web: tuple[str, dict[str, str]],
) -> None:
    url, env = scheduler_web
    headers = {"Authorization": f"Bearer {_token(url)}", "Idempotency-Key": "double-click-7"}
    starts_at = days_ahead(10, hour=11)
    body = {
        "client_id": demo_id("client-priya"),
        "practitioner_id": demo_id("sam-okafor"),
        "service_type_id": demo_id("ipt-intake"),
        "starts_at": starts_at.isoformat(),
    }
    responses = _fire(url, [(body, headers)] * 20)
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    assert _active_count(env, starts_at) == 1


def _metric(url: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == name and all(item.labels.get(k) == v for k, v in labels.items()):
                total += float(item.value)
    return total


def test_metrics_add_up_across_gunicorn_processes(
    scheduler_web: tuple[str, dict[str, str]],
) -> None:
    url, env = scheduler_web
    auth = {"Authorization": f"Bearer {_token(url)}"}
    conflicts_before = _metric(url, "rapport_booking_conflicts_total")
    starts_at = days_ahead(11, hour=9)
    batch = [
        (
            {
                "client_id": demo_id(client),
                "practitioner_id": demo_id("sam-okafor"),
                "service_type_id": demo_id("ipt-session"),
                "starts_at": starts_at.isoformat(),
            },
            auth,
        )
        for client in ("client-jordan", "client-priya", "client-marek") * 4
    ]
    responses = _fire(url, batch)
    assert sorted(r.status_code for r in responses) == [201] + [409] * 11
    # Counted in whichever worker process served each request, summed at scrape time.
    assert _metric(url, "rapport_booking_conflicts_total") == conflicts_before + 11
    active = _metric(url, "rapport_active_appointments")
    rt = bootstrap("scheduler", env=env)
    try:
        with rt.db.sessions() as session:
            in_db = session.scalar(
                select(func.count())
                .select_from(Appointment)
                .where(Appointment.status.in_(("booked", "confirmed", "checked_in")))
            )
    finally:
        rt.db.dispose()
    assert active == in_db and active >= 3
