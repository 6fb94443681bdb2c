"""iCal feeds on real PostgreSQL, parsed with two independent parsers (icalendar and vobject):
a course across a DST change, cancellations kept for 30 days, conditional requests, rotation,
and no more health information than the issue allows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject

from services.bootstrap import bootstrap
from services.scheduler.demo import DEMO_LOGIN
from shared import migrations
from shared.clock import FrozenClock
from shared.demo import demo_id
from shared.web import create_service_app
from tests.integration.test_scheduler_support import (
    SchedulerSystem,
    audit_entries,
    scheduler_only,
)
from tests.support import days_ahead, now

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock

NY = ZoneInfo("America/New_York")
NOW = now().replace(second=0, microsecond=0)


def next_dst_change(after: date) -> date:
    day = after
    while True:
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=NY)
        if noon.utcoffset() != (noon - timedelta(days=1)).utcoffset():
            return day
        day += timedelta(days=1)


@contextmanager
def _scheduler(env: dict[str, str]) -> Iterator[SchedulerSystem]:
    with scheduler_only(env | {"RAPPORT_PUBLIC_URL": "https://rapport.example/"}) as s:
        rt = s.runtimes["scheduler"]
        rt.clock = rt.emitter.clock = FrozenClock(NOW)
        s.token(), s.token(admin=True)
        yield s


@pytest.fixture
def sched(system_env: dict[str, str]) -> Iterator[SchedulerSystem]:
    with _scheduler(system_env) as s:
        yield s


@pytest.fixture(params=["postgresql", "sqlite"])
def either(
    request: pytest.FixtureRequest, system_env: dict[str, str], tmp_path: Path
) -> Iterator[SchedulerSystem]:
    """The scheduler on PostgreSQL, then on SQLite (the embedded default)."""
    env = dict(system_env)
    if request.param == "sqlite":
        env["SCHEDULER_DATABASE_URL"] = f"sqlite:///{tmp_path}/scheduler.db"
    with _scheduler(env) as s:
        yield s


def fetch(s: SchedulerSystem, url: str, **headers: str) -> Any:
    path = url.removeprefix("https://rapport.example")
    return s.apps["scheduler"].test_client().get(path, headers=headers)


def feed_link(s: SchedulerSystem, kind: str, owner: str, admin: bool = False) -> str:
    response = s.call("scheduler", "GET", f"/api/v1/{kind}s/{demo_id(owner)}/feed", admin=admin)
    assert response.status_code == 200, response.json
    return str(response.json["url"])


def make_course(s: SchedulerSystem) -> list[dict[str, Any]]:
    """Four weekly Tuesday 15:00 sessions for Jordan with Dr. Rivera, across a DST change."""
    change = next_dst_change((NOW + timedelta(days=21)).astimezone(NY).date())
    first = change - timedelta(days=14)
    first -= timedelta(days=first.weekday() - 1)
    response = s.call(
        "scheduler",
        "POST",
        "/api/v1/courses",
        json={
            "client_id": demo_id("client-jordan"),
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "first_starts_at": datetime(
                first.year, first.month, first.day, 15, tzinfo=NY
            ).isoformat(),
            "sessions": 4,
        },
    )
    assert response.status_code == 201, response.json
    return list(response.json["booked"])


def events_by_uid(body: bytes) -> dict[str, icalendar.Event]:
    """The feed's events by UID, after checking that vobject reads the same feed alike."""
    calendar = icalendar.Calendar.from_ical(body)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    second = vobject.readOne(body.decode())
    read = {v.uid.value: v for v in getattr(second, "vevent_list", [])}
    assert set(read) == set(events)
    for uid, event in events.items():
        assert read[uid].dtstart.value == event.decoded("DTSTART")
        assert int(read[uid].sequence.value) == int(event["SEQUENCE"])
    return events


def test_feed_links_are_secret_and_only_for_their_owner_or_staff(sched: SchedulerSystem) -> None:
    refused = sched.call("scheduler", "GET", f"/api/v1/practitioners/{demo_id('dr-rivera')}/feed")
    assert refused.status_code == 403
    url = feed_link(sched, "practitioner", "dr-rivera", admin=True)
    assert url.startswith("https://rapport.example/feeds/practitioner/") and url.endswith(".ics")
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    assert len(token) >= 43  # 32 random bytes, base64url
    # Asking again gives the same link; the client's link is a different secret.
    assert feed_link(sched, "practitioner", "dr-rivera", admin=True) == url
    client_url = feed_link(sched, "client", "client-jordan")
    assert token not in client_url
    # The token itself never reaches the audit log.
    entries = audit_entries(sched, entity="practitioner", entity_id=demo_id("dr-rivera"))
    assert entries[0]["action"] == "practitioner.feed_created"
    assert token not in str(entries)


def test_client_feed_across_dst_parses_with_icalendar_and_vobject(sched: SchedulerSystem) -> None:
    sessions = make_course(sched)
    cancelled = sessions[3]
    assert (
        sched.call(
            "scheduler",
            "POST",
            f"/api/v1/appointments/{cancelled['id']}/cancel",
            json={"cancelled_by": "client", "reason": "Travelling"},
        ).status_code
        == 200
    )
    response = fetch(sched, feed_link(sched, "client", "client-jordan"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    body = response.data
    text = body.decode()
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT15M" in text
    assert "X-PUBLISHED-TTL:PT15M" in text

    calendar = icalendar.Calendar.from_ical(body)
    assert str(calendar["VERSION"]) == "2.0" and "PRODID" in calendar
    zones = {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")}
    events = events_by_uid(body)
    assert set(events) == {f"{s['id']}@rapport" for s in sessions}
    for uid, event in events.items():
        assert event.get("DTSTART").params["TZID"] in zones
        assert "DTSTAMP" in event
        start = event.decoded("DTSTART")
        assert start.astimezone(NY).strftime("%H:%M") == "15:00", uid
        assert str(event["SUMMARY"]) == "Appointment with Dr. Ana Rivera"
        assert str(event["LOCATION"]).startswith("Harbour Street Therapy")
    assert {event.decoded("DTSTART").astimezone(UTC).hour for event in events.values()} == {
        19,
        20,
    }
    assert str(events[f"{cancelled['id']}@rapport"]["STATUS"]) == "CANCELLED"
    assert int(events[f"{cancelled['id']}@rapport"]["SEQUENCE"]) == 2
    assert str(events[f"{sessions[0]['id']}@rapport"]["STATUS"]) == "CONFIRMED"
    # Nothing clinical: no service type, CPT code or reason.
    for word in ("IPT", "90834", "Travelling", "session (50"):
        assert word not in text

    parsed = vobject.readOne(text)
    vevents = parsed.vevent_list
    assert len(vevents) == 4
    local_times = {v.dtstart.value.astimezone(NY).strftime("%H:%M") for v in vevents}
    assert local_times == {"15:00"}
    offsets = {v.dtstart.value.utcoffset() for v in vevents}
    assert offsets == {timedelta(hours=-4), timedelta(hours=-5)}
    statuses = {v.uid.value: v.status.value for v in vevents}
    assert statuses[f"{cancelled['id']}@rapport"] == "CANCELLED"


def test_practitioner_feed_shows_first_name_last_initial_and_service(
    sched: SchedulerSystem,
) -> None:
    sessions = make_course(sched)
    response = fetch(sched, feed_link(sched, "practitioner", "dr-rivera", admin=True))
    assert response.status_code == 200
    text = response.data.decode()
    events = events_by_uid(response.data)
    assert {str(e["SUMMARY"]) for e in events.values()} == {"Jordan L. — IPT session (50 min)"}
    for private in ("Lee", "jordan.lee@example.com", "+16175550123"):
        assert private not in text
    parsed = vobject.readOne(text)
    assert {v.uid.value for v in parsed.vevent_list} == {f"{s['id']}@rapport" for s in sessions}


def test_conditional_requests_and_changes(sched: SchedulerSystem) -> None:
    sessions = make_course(sched)
    url = feed_link(sched, "client", "client-jordan")
    first = fetch(sched, url)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert fetch(sched, url, **{"If-None-Match": etag}).status_code == 304
    assert fetch(sched, url, **{"If-Modified-Since": modified}).status_code == 304
    assert fetch(sched, url, **{"If-None-Match": '"other"'}).status_code == 200

    sched.runtimes["scheduler"].clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    new_start = datetime.fromisoformat(sessions[1]["starts_at"]) + timedelta(days=1)
    moved = sched.call(
        "scheduler",
        "POST",
        f"/api/v1/appointments/{sessions[1]['id']}/reschedule",
        json={"starts_at": new_start.isoformat()},
    )
    assert moved.status_code == 200
    after = fetch(sched, url, **{"If-None-Match": etag, "If-Modified-Since": modified})
    assert after.status_code == 200
    assert after.headers["ETag"] != etag
    event = events_by_uid(after.data)[f"{sessions[1]['id']}@rapport"]
    assert int(event["SEQUENCE"]) == 2
    assert event.decoded("DTSTART") == new_start
    assert fetch(sched, url, **{"If-Modified-Since": modified}).status_code == 200


def _cancel(s: SchedulerSystem, sessions: list[dict[str, Any]]) -> Any:
    return s.call(
        "scheduler",
        "POST",
        f"/api/v1/appointments/{sessions[0]['id']}/cancel",
        json={"cancelled_by": "practice", "reason": "Therapist away"},
    )


def _reschedule(s: SchedulerSystem, sessions: list[dict[str, Any]]) -> Any:
    new_start = datetime.fromisoformat(sessions[0]["starts_at"]) + timedelta(hours=2)
    return s.call(
        "scheduler",
        "POST",
        f"/api/v1/appointments/{sessions[0]['id']}/reschedule",
        json={"starts_at": new_start.isoformat()},
    )


def _practice(s: SchedulerSystem, **changes: str) -> Any:
    practice = s.call("scheduler", "GET", "/api/v1/practice", admin=True).json
    del practice["revision"]
    return s.call("scheduler", "PUT", "/api/v1/practice", admin=True, json=practice | changes)


# Each change, made at the same frozen instant as the first fetch (so neither the clock nor
# Last-Modified helps), and a text the practitioner's feed shows after it (None: the calendar
# does not show that change, but its ETag still moves).
CHANGES: dict[str, tuple[Callable[[SchedulerSystem, list[dict[str, Any]]], Any], str | None]] = {
    "book": (lambda s, _: s.book(client="client-priya"), "Priya N."),
    "cancel": (_cancel, "STATUS:CANCELLED"),
    "reschedule": (_reschedule, "SEQUENCE:2"),
    "place": (
        lambda s, sessions: s.call(
            "scheduler",
            "PATCH",
            f"/api/v1/appointments/{sessions[0]['id']}",
            json={"location": "Room 9"},
        ),
        "Room 9",
    ),
    "client renamed": (
        lambda s, _: s.call(
            "scheduler",
            "PATCH",
            f"/api/v1/clients/{demo_id('client-jordan')}",
            json={"first_name": "Jordy"},
        ),
        "Jordy L.",
    ),
    "practitioner renamed": (
        lambda s, _: s.call(
            "scheduler",
            "PATCH",
            f"/api/v1/practitioners/{demo_id('dr-rivera')}",
            admin=True,
            json={"display_name": "Dr. Ana Rivera-Ortiz"},
        ),
        "Dr. Ana Rivera-Ortiz",
    ),
    "service type renamed": (
        lambda s, _: s.call(
            "scheduler",
            "PATCH",
            f"/api/v1/service-types/{demo_id('ipt-session')}",
            admin=True,
            json={"name": "Interpersonal therapy"},
        ),
        "Interpersonal therapy",
    ),
    "practice address": (lambda s, _: _practice(s, address="1 New Street, Boston"), None),
    "practice zone": (lambda s, _: _practice(s, time_zone="America/Chicago"), None),
}


@pytest.mark.parametrize("change", CHANGES)
def test_every_change_to_a_feed_gives_a_new_etag_and_body(
    sched: SchedulerSystem, change: str
) -> None:
    sessions = make_course(sched)
    url = feed_link(sched, "practitioner", "dr-rivera", admin=True)
    first = fetch(sched, url)
    etag = first.headers["ETag"]
    assert fetch(sched, url, **{"If-None-Match": etag}).status_code == 304
    make, shown = CHANGES[change]
    assert make(sched, sessions).status_code in (200, 201)
    after = fetch(sched, url, **{"If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["ETag"] != etag
    if shown is not None:
        assert shown not in first.data.decode()
        assert shown in after.data.decode().replace("\r\n ", "")
    # Unchanged from here on: the new ETag holds.
    again = fetch(sched, url, **{"If-None-Match": after.headers["ETag"]})
    assert again.status_code == 304


def test_a_practitioner_rename_reaches_the_client_feed(sched: SchedulerSystem) -> None:
    make_course(sched)
    url = feed_link(sched, "client", "client-jordan")
    etag = fetch(sched, url).headers["ETag"]
    CHANGES["practitioner renamed"][0](sched, [])
    after = fetch(sched, url, **{"If-None-Match": etag})
    assert after.status_code == 200
    assert "Appointment with Dr. Ana Rivera-Ortiz" in after.data.decode()


def test_a_rename_moves_the_etag_whichever_of_the_feeds_sessions_shows_the_name(
    either: SchedulerSystem,
) -> None:
    """The feed's version sums the names' revisions per client (or practitioner) and service
    type: a name only one of the sessions shows, among others of other clients and service
    types, moves the ETag as surely as a name they all show."""
    for client, service_type in (
        ("client-jordan", "ipt-session"),
        ("client-priya", "ipt-intake"),
        ("client-marek", "ipt-session"),
        ("client-marek", "ipt-group"),
    ):
        assert either.book(service_type, client).status_code == 201
    url = feed_link(either, "practitioner", "dr-rivera", admin=True)
    etag = fetch(either, url).headers["ETag"]
    renames = (
        (f"/api/v1/clients/{demo_id('client-priya')}", {"first_name": "Priyanka"}, "Priyanka N."),
        (
            f"/api/v1/service-types/{demo_id('ipt-group')}",
            {"name": "Group therapy"},
            "Marek N. — Group therapy",
        ),
    )
    for path, change, shown in renames:
        assert either.call("scheduler", "PATCH", path, admin=True, json=change).status_code == 200
        after = fetch(either, url, **{"If-None-Match": etag})
        assert after.status_code == 200
        assert after.headers["ETag"] != etag
        assert shown in after.data.decode().replace("\r\n ", "")
        etag = after.headers["ETag"]
        assert fetch(either, url, **{"If-None-Match": etag}).status_code == 304


def test_a_feed_without_sessions_answers_until_its_owner_is_deactivated(
    either: SchedulerSystem,
) -> None:
    url = feed_link(either, "practitioner", "sam-okafor", admin=True)
    empty = fetch(either, url)
    assert empty.status_code == 200
    assert "BEGIN:VEVENT" not in empty.data.decode()
    assert fetch(either, url, **{"If-None-Match": empty.headers["ETag"]}).status_code == 304
    assert either.book(practitioner="sam-okafor").status_code == 201
    booked = fetch(either, url, **{"If-None-Match": empty.headers["ETag"]})
    assert booked.status_code == 200
    assert "BEGIN:VEVENT" in booked.data.decode()
    deactivated = either.call(
        "scheduler",
        "PATCH",
        f"/api/v1/practitioners/{demo_id('sam-okafor')}",
        admin=True,
        json={"active": False},
    )
    assert deactivated.status_code == 200, deactivated.json
    assert fetch(either, url, **{"If-None-Match": booked.headers["ETag"]}).status_code == 404
    assert fetch(either, url).status_code == 404


def test_rotation_stops_the_old_url_at_once(sched: SchedulerSystem) -> None:
    old = feed_link(sched, "client", "client-priya")
    first = fetch(sched, old)
    assert first.status_code == 200
    rotated = sched.call(
        "scheduler", "POST", f"/api/v1/clients/{demo_id('client-priya')}/feed/rotate"
    )
    assert rotated.status_code == 200
    new = rotated.json["url"]
    assert new != old
    gone = fetch(sched, old)
    assert gone.status_code == 404
    assert gone.mimetype == "application/problem+json"
    renewed = fetch(sched, new, **{"If-None-Match": first.headers["ETag"]})
    assert renewed.status_code == 200
    assert renewed.headers["ETag"] != first.headers["ETag"]
    assert fetch(sched, "/feeds/client/" + "x" * 43 + ".ics").status_code == 404
    assert fetch(sched, "/feeds/elsewhere/" + "x" * 43 + ".ics").status_code == 404


def test_cancelled_sessions_stay_for_thirty_days(sched: SchedulerSystem) -> None:
    sessions = make_course(sched)
    url = feed_link(sched, "client", "client-jordan")
    assert (
        sched.call(
            "scheduler",
            "POST",
            f"/api/v1/appointments/{sessions[3]['id']}/cancel",
            json={"cancelled_by": "practice", "reason": "Therapist away"},
        ).status_code
        == 200
    )
    uid = f"{sessions[3]['id']}@rapport"
    clock = sched.runtimes["scheduler"].clock
    clock.advance(timedelta(days=29))  # type: ignore[attr-defined]
    kept = fetch(sched, url)
    assert uid in events_by_uid(kept.data)
    clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    # Nothing was written: the session left the feed with time, and the ETag moved with it.
    dropped = fetch(sched, url, **{"If-None-Match": kept.headers["ETag"]})
    assert dropped.status_code == 200
    assert uid not in events_by_uid(dropped.data)


def test_the_embedded_default_on_sqlite_answers_and_invalidates_alike(
    system_env: dict[str, str], tmp_path: Path
) -> None:
    env = system_env | {
        "SCHEDULER_DATABASE_URL": f"sqlite:///{tmp_path}/scheduler.db",
        "RAPPORT_PUBLIC_URL": "https://rapport.example/",
    }
    rt = bootstrap("scheduler", env=env)
    try:
        migrations.upgrade(rt)
        assert rt.service.seed_demo is not None
        rt.service.seed_demo(rt)
        web = create_service_app(rt).test_client()
        token = web.post(
            "/api/v1/auth/token", json={"email": DEMO_LOGIN[0], "password": DEMO_LOGIN[1]}
        ).json["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        booked = web.post(
            "/api/v1/appointments",
            headers=auth,
            json={
                "client_id": demo_id("client-jordan"),
                "practitioner_id": demo_id("dr-rivera"),
                "service_type_id": demo_id("ipt-session"),
                "starts_at": days_ahead(4, hour=10).isoformat(),
            },
        )
        assert booked.status_code == 201, booked.json
        link = web.get(f"/api/v1/clients/{demo_id('client-jordan')}/feed", headers=auth)
        path = link.json["url"].removeprefix("https://rapport.example")
        first = web.get(path)
        assert f"{booked.json['id']}@rapport" in events_by_uid(first.data)
        etag = first.headers["ETag"]
        assert web.get(path, headers={"If-None-Match": etag}).status_code == 304
        cancelled = web.post(
            f"/api/v1/appointments/{booked.json['id']}/cancel",
            headers=auth,
            json={"cancelled_by": "practice", "reason": "Therapist away"},
        )
        assert cancelled.status_code == 200, cancelled.json
        after = web.get(path, headers={"If-None-Match": etag})
        assert after.status_code == 200
        assert after.headers["ETag"] != etag
        assert "STATUS:CANCELLED" in after.data.decode()
    finally:
        rt.db.dispose()
