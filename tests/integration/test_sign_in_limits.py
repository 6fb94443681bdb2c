"""Sign-in on real PostgreSQL: failures are counted in the database, so the limit holds across
web processes (here two apps on one database, as two gunicorn workers or replicas are), for
the API and the desk's form alike; every attempt is audited; the last admin stays."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask

from services.bootstrap import bootstrap
from services.scheduler.demo import DEMO_ADMIN, DEMO_LOGIN
from shared.clock import FrozenClock
from shared.service import Runtime
from shared.web import create_service_app
from tests.integration.test_scheduler_support import (
    SchedulerSystem,
    audit_entries,
    scheduler_only,
)
from tests.support import now

RIGHT = {"email": DEMO_LOGIN[0], "password": DEMO_LOGIN[1]}
WRONG = {"email": DEMO_LOGIN[0], "password": "guessing"}


@pytest.fixture
def sched(system_env: dict[str, str]) -> Iterator[SchedulerSystem]:
    with scheduler_only(system_env) as s:
        yield s


@pytest.fixture
def clock(sched: SchedulerSystem) -> FrozenClock:
    frozen = FrozenClock(now())
    rt = sched.runtimes["scheduler"]
    rt.clock = rt.emitter.clock = frozen
    return frozen


@pytest.fixture
def second_process(sched: SchedulerSystem, clock: FrozenClock) -> Iterator[Flask]:
    """Another web process on the same database."""
    rt: Runtime = bootstrap("scheduler", env=sched.env)
    rt.clock = rt.emitter.clock = clock
    try:
        yield create_service_app(rt)
    finally:
        rt.db.dispose()


def token_request(app: Flask, body: dict[str, str], address: str = "203.0.113.7") -> object:
    return app.test_client().post(
        "/api/v1/auth/token", json=body, headers={"X-Forwarded-For": address}
    )


def test_failures_in_any_process_count_against_the_account(
    sched: SchedulerSystem, clock: FrozenClock, second_process: Flask
) -> None:
    first_process = sched.apps["scheduler"]
    for app in (first_process, second_process, first_process, second_process, first_process):
        assert token_request(app, WRONG).status_code == 401

    # The sixth try, even with the right password and in the other process, is refused.
    limited = token_request(second_process, RIGHT)
    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    assert 0 < int(limited.headers["Retry-After"]) <= 15 * 60
    assert "Wait 15 minutes" in limited.json["detail"]
    # The desk's form counts the same failures.
    form = first_process.test_client()
    form.get("/sign-in")
    with form.session_transaction() as browser:
        csrf = browser["ui_pre_csrf"]
    refused = form.post("/sign-in", data={**RIGHT, "csrf_token": csrf})
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)

    clock.advance(timedelta(minutes=15, seconds=1))
    assert token_request(second_process, RIGHT).status_code == 200
    # A success clears the account's failures: four more mistakes are still allowed.
    for _ in range(4):
        assert token_request(first_process, WRONG).status_code == 401
    assert token_request(first_process, RIGHT).status_code == 200


def test_one_address_cannot_try_many_accounts(
    sched: SchedulerSystem, clock: FrozenClock, second_process: Flask
) -> None:
    for n in range(20):
        guess = {"email": f"someone{n}@harbourstreet.example", "password": "guessing"}
        app = sched.apps["scheduler"] if n % 2 else second_process
        assert token_request(app, guess, address="198.51.100.9").status_code == 401
    assert token_request(second_process, RIGHT, address="198.51.100.9").status_code == 429
    assert token_request(second_process, RIGHT, address="192.0.2.44").status_code == 200


def test_sign_ins_and_failures_are_audited_without_the_typed_email(
    sched: SchedulerSystem, clock: FrozenClock
) -> None:
    app = sched.apps["scheduler"]
    token_request(app, {"email": "nobody@example.com", "password": "x"}, address="192.0.2.1")
    token_request(app, WRONG, address="192.0.2.2")
    entries = audit_entries(sched, entity="staff_user")  # signs the admin in first
    actions = [(e["action"], e["after"]["address"], e["after"]["via"]) for e in entries]
    assert ("staff.sign_in_failed", "192.0.2.1", "api") in actions
    assert ("staff.sign_in_failed", "192.0.2.2", "api") in actions
    assert any(a[0] == "staff.signed_in" for a in actions)
    unknown = next(e for e in entries if e["after"]["address"] == "192.0.2.1")
    assert unknown["entity_id"] == "unknown"
    assert "nobody@example.com" not in str(entries)


def test_the_last_active_admin_cannot_be_deactivated(sched: SchedulerSystem) -> None:
    staff = sched.call("scheduler", "GET", "/api/v1/staff", admin=True).json["items"]
    [admin] = [u for u in staff if u["role"] == "admin" and u["active"]]
    assert admin["email"] == DEMO_ADMIN[0]

    refused = sched.call("scheduler", "POST", f"/api/v1/staff/{admin['id']}/deactivate", admin=True)
    assert refused.status_code == 409
    assert "last active admin" in refused.json["detail"]

    second = sched.call(
        "scheduler",
        "POST",
        "/api/v1/staff",
        admin=True,
        json={
            "email": "owner@harbourstreet.example",
            "name": "Practice Owner",
            "role": "admin",
            "password": "a-long-password",
        },
    )
    assert second.status_code == 201, second.json
    allowed = sched.call("scheduler", "POST", f"/api/v1/staff/{admin['id']}/deactivate", admin=True)
    assert allowed.status_code == 200 and allowed.json["active"] is False
