"""Enrolling a client in check-ins at the scheduler: refused (problem+json) until the practice's
safety net is set, only by the client's practitioner or an admin, questions that never name a
diagnosis or a therapy, and the enrolment sent to the notifier through the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from shared.auth import SESSION_COOKIE, Principal, csrf_token_for, issue_token
from shared.demo import demo_id
from tests.integration.test_scheduler_support import (
    SchedulerSystem,
    audit_entries,
    outbox_events,
    scheduler_only,
)

pytestmark = pytest.mark.integration
JORDAN = demo_id("client-jordan")
RIVERA = demo_id("dr-rivera")
OKAFOR = demo_id("sam-okafor")
SAFETY = "If you need someone to talk to right now, call or text 988, any time."
ENROL = {"schedule": "daily", "time": "19:00", "until": "upcoming_sessions"}


@pytest.fixture
def sched(system_env: dict[str, str]) -> Iterator[SchedulerSystem]:
    with scheduler_only(system_env) as s:
        yield s


def as_(s: SchedulerSystem, role: str, practitioner_id: str | None = None) -> dict[str, str]:
    rt = s.runtimes["scheduler"]
    principal = Principal(f"user-{role}", f"{role}@example.com", role, role, practitioner_id)
    token = issue_token(rt.settings.secret_key, principal, rt.clock.now(), timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


def call(s: SchedulerSystem, method: str, path: str, who: dict[str, str], **kw: Any) -> Any:
    return s.call("scheduler", method, path, headers=who, **kw)


def set_safety_net(s: SchedulerSystem, **changes: Any) -> Any:
    body = {"threshold": 3, "crisis_words": ["hopeless"], "safety_message": SAFETY} | changes
    return s.call("scheduler", "PUT", "/api/v1/check-in-settings", admin=True, json=body)


def test_enrolling_is_refused_until_the_safety_net_is_set(sched: SchedulerSystem) -> None:
    sched.book(client="client-jordan", practitioner="dr-rivera")
    rivera = as_(sched, "practitioner", RIVERA)
    path = f"/api/v1/clients/{JORDAN}/check-ins"

    refused = call(sched, "PUT", path, rivera, json=ENROL)
    assert refused.status_code == 409
    assert refused.content_type == "application/problem+json"
    assert "safety message" in refused.json["detail"]
    # A safety message without crisis words is not enough either.
    assert set_safety_net(sched, crisis_words=[]).status_code == 200
    assert call(sched, "PUT", path, rivera, json=ENROL).status_code == 409
    assert outbox_events(sched, "check_in.enrolment_changed") == []

    assert set_safety_net(sched).status_code == 200
    enrolled = call(sched, "PUT", path, rivera, json=ENROL)

    assert enrolled.status_code == 200, enrolled.json
    [event] = outbox_events(sched, "check_in.enrolment_changed")
    assert (event["client_id"], event["practitioner_id"], event["active"]) == (JORDAN, RIVERA, True)
    assert event["local_time"] == "19:00:00"
    assert event["question"].startswith("How has today been, from 0 (worst) to 10 (best)?")
    [settings] = outbox_events(sched, "check_in.settings_updated")[-1:]
    assert (settings["threshold"], settings["safety_message"]) == (3, SAFETY)
    assert [e["action"] for e in audit_entries(sched, entity_id=JORDAN)][:1] == [
        "check_ins.enrolled"
    ]


def test_only_the_clients_practitioner_or_an_admin_enrols(sched: SchedulerSystem) -> None:
    sched.book(client="client-jordan", practitioner="dr-rivera")
    set_safety_net(sched)
    path = f"/api/v1/clients/{JORDAN}/check-ins"

    desk = call(sched, "PUT", path, as_(sched, "front_desk"), json=ENROL)
    other = call(sched, "PUT", path, as_(sched, "practitioner", OKAFOR), json=ENROL)
    assert (desk.status_code, other.status_code) == (403, 403)
    assert call(sched, "GET", path, as_(sched, "front_desk")).status_code == 403

    admin = as_(sched, "admin")
    body = ENROL | {"practitioner_id": RIVERA, "until": "date", "until_date": "2031-01-31"}
    assert call(sched, "PUT", path, admin, json=body).status_code == 200
    ended = call(sched, "DELETE", path, as_(sched, "practitioner", RIVERA))
    assert ended.status_code == 200 and ended.json["active"] is False
    assert [e["active"] for e in outbox_events(sched, "check_in.enrolment_changed")] == [
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schedule": "weekdays", "weekdays": []}, "weekday"),
        ({"schedule": "after_session"}, "days_after"),
        ({"until": "date"}, "until_date"),
        ({"question": "Something the practice never wrote"}, "question"),
        ({"time": "25:00"}, "time"),
    ],
    ids=["no-weekday", "no-days-after", "no-until-date", "unknown-question", "bad-time"],
)
def test_an_incomplete_enrolment_is_refused_and_changes_nothing(
    sched: SchedulerSystem, body: dict[str, Any], field: str
) -> None:
    sched.book(client="client-jordan", practitioner="dr-rivera")
    set_safety_net(sched)

    refused = call(
        sched,
        "PUT",
        f"/api/v1/clients/{JORDAN}/check-ins",
        as_(sched, "practitioner", RIVERA),
        json=ENROL | body,
    )

    assert refused.status_code == 422
    assert field in str(refused.json)
    assert outbox_events(sched, "check_in.enrolment_changed") == []


def test_a_question_naming_a_therapy_or_diagnosis_is_refused(sched: SchedulerSystem) -> None:
    refused = set_safety_net(
        sched, questions=["How did the therapy homework go, 0 to 10?", "How was today, 0-10?"]
    )
    assert refused.status_code == 422
    assert outbox_events(sched, "check_in.settings_updated") == []


def desk_page(s: SchedulerSystem, role: str, practitioner_id: str | None = None) -> Any:
    """A browser signed in as ``role`` (the UI's session cookie) and its CSRF token."""
    rt = s.runtimes["scheduler"]
    principal = Principal(f"user-{role}", f"{role}@example.com", role, role, practitioner_id)
    token = issue_token(rt.settings.secret_key, principal, rt.clock.now(), timedelta(hours=1))
    browser = s.apps["scheduler"].test_client()
    browser.set_cookie(SESSION_COOKIE, token)
    return browser, csrf_token_for(rt.settings.secret_key, token)


def test_the_clients_page_enrols_with_a_csrf_protected_form(sched: SchedulerSystem) -> None:
    sched.book(client="client-jordan", practitioner="dr-rivera")
    set_safety_net(sched)
    browser, csrf = desk_page(sched, "practitioner", RIVERA)
    page = browser.get(f"/clients/{JORDAN}").get_data(as_text=True)
    assert 'action="/clients/' + JORDAN + '/check-ins"' in page
    form = {"schedule": "weekdays", "time": "18:30", "weekdays": ["0", "3"], "until": "date"}
    form |= {"until_date": "2031-01-31"}

    refused = browser.post(f"/clients/{JORDAN}/check-ins", data=form)
    assert refused.status_code == 403
    assert outbox_events(sched, "check_in.enrolment_changed") == []

    saved = browser.post(f"/clients/{JORDAN}/check-ins", data=form | {"csrf_token": csrf})
    assert saved.status_code == 303
    [event] = outbox_events(sched, "check_in.enrolment_changed")
    assert (event["schedule"], event["weekdays"], event["local_time"]) == (
        "weekdays",
        [0, 3],
        "18:30:00",
    )
    page = browser.get(f"/clients/{JORDAN}").get_data(as_text=True)
    assert f'src="/api/v1/check-ins/clients/{JORDAN}/chart"' in page
    assert "on Mon, Thu" in page

    desk, _ = desk_page(sched, "front_desk")
    assert "check-ins/chart" not in desk.get(f"/clients/{JORDAN}").get_data(as_text=True)
