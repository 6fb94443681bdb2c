"""The desk's idle timeout: a practice setting (validated, problem+json), and the desk's session
ending that long after its last activity by the application clock, whatever the browser does;
signing in again returns to the page that was asked for."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.scheduler.demo import DEMO_LOGIN
from shared.auth import SESSION_COOKIE
from shared.clock import FrozenClock
from tests.integration.test_scheduler_support import SchedulerSystem, scheduler_only
from tests.support import now

pytestmark = pytest.mark.integration


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


def set_idle(sched: SchedulerSystem, minutes: Any) -> Any:
    settings = sched.call("scheduler", "GET", "/api/v1/practice").json
    settings.pop("revision")
    return sched.call(
        "scheduler", "PUT", "/api/v1/practice", admin=True, json={**settings, **minutes}
    )


def signed_in_desk(sched: SchedulerSystem) -> FlaskClient:
    desk = sched.apps["scheduler"].test_client()
    desk.get("/sign-in")
    with desk.session_transaction() as browser:
        csrf = browser["ui_pre_csrf"]
    email, password = DEMO_LOGIN
    signed = desk.post("/sign-in", data={"email": email, "password": password, "csrf_token": csrf})
    assert signed.status_code == 303, signed.get_data(as_text=True)
    return desk


def test_the_idle_timeout_is_a_practice_setting_within_bounds(sched: SchedulerSystem) -> None:
    assert sched.call("scheduler", "GET", "/api/v1/practice").json["desk_idle_minutes"] == 30
    changed = set_idle(sched, {"desk_idle_minutes": 10})
    assert changed.status_code == 200, changed.json
    assert changed.json["desk_idle_minutes"] == 10
    for bad in (1, 721, "soon"):
        refused = set_idle(sched, {"desk_idle_minutes": bad})
        assert refused.status_code == 422, bad
        assert refused.mimetype == "application/problem+json"
        assert "desk_idle_minutes" in refused.json["detail"]
    assert sched.call("scheduler", "GET", "/api/v1/practice").json["desk_idle_minutes"] == 10


def test_the_desk_signs_out_after_the_idle_timeout_and_comes_back_to_the_page(
    sched: SchedulerSystem, clock: FrozenClock
) -> None:
    assert set_idle(sched, {"desk_idle_minutes": 15}).status_code == 200
    desk = signed_in_desk(sched)
    assert desk.get("/clients").status_code == 200
    status = desk.get("/session/status").json
    assert status is not None
    assert (
        status["expires_at"]
        == (clock.now() + timedelta(minutes=15)).replace(microsecond=0).isoformat()
    )

    # Used within the timeout: the page renews the session, which keeps its CSRF token.
    clock.advance(timedelta(minutes=14))
    page = desk.get("/clients").get_data(as_text=True)
    csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    renewed = desk.post("/session/extend", headers={"X-CSRF-Token": csrf})
    assert renewed.status_code == 200
    assert renewed.json["csrf_token"] == csrf
    # Idle for the timeout after that: signed out, the APIs refuse the cookie too.
    clock.advance(timedelta(minutes=14, seconds=59))
    assert desk.get("/week?date=2031-01-06").status_code == 200
    clock.advance(timedelta(seconds=2))
    gone = desk.get("/week?date=2031-01-06")
    assert gone.status_code == 303
    assert gone.headers["Location"] == "/sign-in?next=%2Fweek%3Fdate%3D2031-01-06"
    api = desk.get("/api/v1/clients")
    assert api.status_code == 401
    assert api.mimetype == "application/problem+json"
    cookie = desk.get_cookie(SESSION_COOKIE)
    assert cookie is None or not cookie.value


def test_a_shorter_timeout_applies_to_sessions_already_open(
    sched: SchedulerSystem, clock: FrozenClock
) -> None:
    desk = signed_in_desk(sched)
    clock.advance(timedelta(minutes=6))
    assert desk.get("/day").status_code == 200
    assert set_idle(sched, {"desk_idle_minutes": 5}).status_code == 200
    gone = desk.get("/day")
    assert gone.status_code == 303
    assert gone.headers["Location"] == "/sign-in?next=%2Fday"
