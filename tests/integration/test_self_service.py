"""A session's self-service page on real PostgreSQL: the link each appointment event carries,
the page a client opens without signing in, and its actions, which go the desk's way (the same
events, late cancellations computed alike) and happen once however often they are sent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import icalendar
import pytest
from flask.testing import FlaskClient

from shared.clock import FrozenClock
from tests.integration.test_scheduler_lifecycle import MovableClock, act, book
from tests.integration.test_scheduler_support import (
    SchedulerSystem,
    audit_entries,
    outbox_events,
    scheduler_only,
)
from tests.support import days_ahead, now

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock

NOW = now().replace(second=0, microsecond=0)


@pytest.fixture
def sched(system_env: dict[str, str]) -> Iterator[SchedulerSystem]:
    with scheduler_only(system_env | {"RAPPORT_PUBLIC_URL": "https://rapport.example"}) as s:
        rt = s.runtimes["scheduler"]
        rt.clock = rt.emitter.clock = FrozenClock(NOW)
        yield s


def browser(s: SchedulerSystem) -> FlaskClient:
    """A client's browser: no session cookie, no bearer token."""
    return s.apps["scheduler"].test_client()


def token_of(s: SchedulerSystem, appointment_id: str) -> str:
    booked = [
        e for e in outbox_events(s, "appointment.booked") if e["appointment_id"] == appointment_id
    ]
    token = booked[0]["self_service_token"]
    assert isinstance(token, str)
    return token


def nonce_on(page: Any) -> str:
    found = re.search(r'name="nonce" value="([0-9a-f]+)"', page.get_data(as_text=True))
    assert found is not None, "the page has no form"
    return found.group(1)


def status_of(s: SchedulerSystem, appointment_id: str) -> dict[str, Any]:
    response = s.call("scheduler", "GET", f"/api/v1/appointments/{appointment_id}")
    assert response.status_code == 200
    return dict(response.json)


def test_the_booking_event_carries_a_live_link_that_opens_the_page(sched: SchedulerSystem) -> None:
    starts_at = days_ahead(3, hour=15)
    aid = book(sched, starts_at)["id"]
    token = token_of(sched, aid)
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", token)

    shown = sched.call("scheduler", "GET", f"/api/v1/appointments/{aid}/self-service-link")
    assert shown.json["url"] == f"https://rapport.example/s/{token}"

    page = browser(sched).get(f"/s/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Dr. Ana Rivera" in html and "Harbour Street" in html
    assert "Booked, not yet confirmed" in html
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    # Nothing from another site, no script.
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)

    # A later event about the same session carries the same link.
    act(sched, aid, "confirm")
    [confirmed] = outbox_events(sched, "appointment.confirmed")
    assert confirmed["self_service_token"] == token


def test_the_page_speaks_the_clients_locale_and_zone(sched: SchedulerSystem) -> None:
    from shared.demo import demo_id

    changed = sched.call(
        "scheduler",
        "PATCH",
        f"/api/v1/clients/{demo_id('client-jordan')}",
        json={"locale": "es_US", "time_zone": "America/Chicago"},
    )
    assert changed.status_code == 200, changed.json
    starts_at = days_ahead(3, hour=15)
    token = token_of(sched, book(sched, starts_at)["id"])

    html = browser(sched).get(f"/s/{token}").get_data(as_text=True)
    assert '<html lang="es-US">' in html
    # 3 PM at the practice is 2 PM in Chicago, written the Spanish way.
    assert re.search(r"2:00 p\.m\. C[SD]T \(3:00 p\.m\. at the practice\)", html)
    assert " de " in html


def test_confirming_goes_the_desks_way_once(sched: SchedulerSystem) -> None:
    aid = book(sched, days_ahead(3, hour=15))["id"]
    token = token_of(sched, aid)
    client = browser(sched)
    nonce = nonce_on(client.get(f"/s/{token}"))

    forged = client.post(f"/s/{token}/confirm", data={"nonce": "0" * 64})
    assert forged.status_code == 400
    assert status_of(sched, aid)["status"] == "booked"

    first = client.post(f"/s/{token}/confirm", data={"nonce": nonce})
    again = client.post(f"/s/{token}/confirm", data={"nonce": nonce})  # a double submit
    assert (first.status_code, again.status_code) == (303, 303)
    # The second changes nothing and just shows the page again.
    assert first.headers["Location"] == f"/s/{token}?done=confirmed"
    assert again.headers["Location"] == f"/s/{token}"

    after = status_of(sched, aid)
    assert (after["status"], after["confirmed_by"], after["sequence"]) == ("confirmed", "client", 2)
    assert len(outbox_events(sched, "appointment.confirmed")) == 1
    entries = audit_entries(sched, entity="appointment", entity_id=aid)
    assert ("appointment.confirmed", "client-link") in [
        (e["action"], e["actor_id"]) for e in entries
    ]
    assert "Confirmed" in client.get(f"/s/{token}").get_data(as_text=True)


def test_a_late_client_cancellation_is_late_as_at_the_desk(sched: SchedulerSystem) -> None:
    starts_at = NOW + timedelta(hours=5)  # inside the practice's 24-hour window
    aid = book(sched, starts_at)["id"]
    token = token_of(sched, aid)
    client = browser(sched)

    page = client.get(f"/s/{token}").get_data(as_text=True)
    assert 'id="fee-warning"' in page and "late-cancellation fee applies" in page
    nonce = re.search(r'name="nonce" value="([0-9a-f]+)"', page)
    assert nonce is not None
    for _ in range(2):
        assert client.post(f"/s/{token}/cancel", data={"nonce": nonce.group(1)}).status_code == 303

    [cancelled] = outbox_events(sched, "appointment.cancelled")
    assert (cancelled["cancelled_by"], cancelled["late"], cancelled["status"]) == (
        "client",
        True,
        "cancelled",
    )
    after = status_of(sched, aid)
    assert (after["status"], after["sequence"]) == ("cancelled", 2)
    # The page still opens until the session's end and says how it stands.
    shown = client.get(f"/s/{token}").get_data(as_text=True)
    assert "Cancelled (a late-cancellation fee applies)" in shown
    assert "/cancel" not in shown and "/confirm" not in shown


def test_an_early_cancellation_says_until_when_it_is_free(sched: SchedulerSystem) -> None:
    aid = book(sched, days_ahead(5, hour=15))["id"]
    token = token_of(sched, aid)
    client = browser(sched)
    page = client.get(f"/s/{token}")
    html = page.get_data(as_text=True)
    assert 'id="no-fee"' in html and 'id="fee-warning"' not in html
    assert client.post(f"/s/{token}/cancel", data={"nonce": nonce_on(page)}).status_code == 303
    [cancelled] = outbox_events(sched, "appointment.cancelled")
    assert (cancelled["cancelled_by"], cancelled["late"]) == ("client", False)


def test_the_practice_can_turn_client_cancellation_off(sched: SchedulerSystem) -> None:
    practice = sched.call("scheduler", "GET", "/api/v1/practice").json
    assert practice["client_cancellation"] is True
    fields = {k: v for k, v in practice.items() if k != "revision"}
    off = sched.call(
        "scheduler",
        "PUT",
        "/api/v1/practice",
        admin=True,
        json=fields | {"client_cancellation": False},
    )
    assert off.status_code == 200 and off.json["client_cancellation"] is False

    aid = book(sched, days_ahead(5, hour=15))["id"]
    token = token_of(sched, aid)
    client = browser(sched)
    page = client.get(f"/s/{token}")
    html = page.get_data(as_text=True)
    assert f"/s/{token}/cancel" not in html and "please call the practice" in html
    assert client.post(f"/s/{token}/cancel", data={"nonce": nonce_on(page)}).status_code == 303
    assert status_of(sched, aid)["status"] == "booked"
    assert outbox_events(sched, "appointment.cancelled") == []


def test_asking_to_reschedule_tells_the_desk_once(sched: SchedulerSystem) -> None:
    starts_at = days_ahead(4, hour=11)
    aid = book(sched, starts_at)["id"]
    token = token_of(sched, aid)
    client = browser(sched)
    nonce = nonce_on(client.get(f"/s/{token}"))
    for _ in range(2):
        assert client.post(f"/s/{token}/reschedule", data={"nonce": nonce}).status_code == 303

    [asked] = outbox_events(sched, "appointment.reschedule_requested")
    assert asked["appointment_id"] == aid
    assert datetime.fromisoformat(asked["starts_at"]) == starts_at
    assert status_of(sched, aid)["sequence"] == 1  # the session itself did not change
    assert "they will contact you" in client.get(f"/s/{token}").get_data(as_text=True)


def test_the_calendar_file_holds_that_one_session(sched: SchedulerSystem) -> None:
    starts_at = days_ahead(4, hour=11)
    aid = book(sched, starts_at)["id"]
    token = token_of(sched, aid)
    response = browser(sched).get(f"/s/{token}/appointment.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    assert "attachment" in response.headers["Content-Disposition"]
    [event] = icalendar.Calendar.from_ical(response.data).walk("VEVENT")
    assert str(event["UID"]) == f"{aid}@rapport"
    assert event.decoded("DTSTART") == starts_at
    assert str(event["SUMMARY"]) == "Appointment with Dr. Ana Rivera"


def test_bad_revoked_and_expired_links_are_a_plain_404(sched: SchedulerSystem) -> None:
    starts_at = days_ahead(2, hour=15)
    aid = book(sched, starts_at)["id"]
    token = token_of(sched, aid)
    client = browser(sched)
    nonce = nonce_on(client.get(f"/s/{token}"))
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for path in (f"/s/{tampered}", "/s/short", f"/s/{token}x", f"/s/{tampered}/appointment.ics"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "This link does not work" in response.get_data(as_text=True)
    assert client.post(f"/s/{tampered}/confirm", data={"nonce": nonce}).status_code == 404

    # Revoked by the desk: 404 at once, and a new link goes out with the session's event.
    revoked = sched.call(
        "scheduler", "POST", f"/api/v1/appointments/{aid}/self-service-link/revoke"
    )
    assert revoked.status_code == 200
    [replaced] = outbox_events(sched, "appointment.self_service_link_replaced")
    fresh = replaced["self_service_token"]
    assert fresh and fresh != token and replaced["sequence"] == 2
    assert revoked.json == {"revoked": 1, "url": f"https://rapport.example/s/{fresh}"}
    assert client.get(f"/s/{token}").status_code == 404
    assert client.post(f"/s/{token}/confirm", data={"nonce": nonce}).status_code == 404
    assert status_of(sched, aid)["status"] == "booked"
    assert client.get(f"/s/{fresh}").status_code == 200
    act(sched, aid, "confirm")
    [confirmed] = outbox_events(sched, "appointment.confirmed")
    assert confirmed["self_service_token"] == fresh

    # Expired: once the session has ended.
    MovableClock(sched).set(starts_at + timedelta(minutes=49))
    assert client.get(f"/s/{fresh}").status_code == 200
    MovableClock(sched).set(starts_at + timedelta(minutes=50))
    assert client.get(f"/s/{fresh}").status_code == 404


def test_the_same_action_sent_at_once_from_several_tabs_happens_once(
    sched: SchedulerSystem,
) -> None:
    aid = book(sched, days_ahead(4, hour=11))["id"]
    token = token_of(sched, aid)
    nonce = nonce_on(browser(sched).get(f"/s/{token}"))

    def send(action: str) -> int:
        return browser(sched).post(f"/s/{token}/{action}", data={"nonce": nonce}).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(send, ["reschedule"] * 4)) == [303] * 4
        assert list(pool.map(send, ["cancel"] * 4)) == [303] * 4
    assert len(outbox_events(sched, "appointment.reschedule_requested")) == 1
    assert len(outbox_events(sched, "appointment.cancelled")) == 1
    assert status_of(sched, aid)["sequence"] == 2
