"""Availability search and courses over HTTP on real PostgreSQL, with the demo practice's
weekly hours (Dr. Rivera: Monday to Friday 09:00-17:00 New York, 10-minute buffer)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from services.scheduler.tables import Appointment, SelfServiceLink
from shared.clock import FrozenClock
from shared.demo import demo_id
from tests.integration.test_scheduler_support import (
    SchedulerSystem,
    outbox_events,
    scheduler_only,
)
from tests.support import now

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock

NY = ZoneInfo("America/New_York")
NOW = now().replace(second=0, microsecond=0)


def monday_after(days: int) -> date:
    day = (NOW + timedelta(days=days)).astimezone(NY).date()
    return day + timedelta(days=(7 - day.weekday()) % 7)


def next_dst_change(after: date) -> date:
    """The first day after ``after`` on which New York's UTC offset differs from the day
    before (the next spring or autumn change)."""
    day = after
    while True:
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=NY)
        if noon.utcoffset() != (noon - timedelta(days=1)).utcoffset():
            return day
        day += timedelta(days=1)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


@pytest.fixture
def sched(system_env: dict[str, str]) -> Iterator[SchedulerSystem]:
    with scheduler_only(system_env) as s:
        rt = s.runtimes["scheduler"]
        rt.clock = rt.emitter.clock = FrozenClock(NOW)
        yield s


def book(
    s: SchedulerSystem, starts_at: datetime, client: str = "client-jordan", who: str = "dr-rivera"
) -> dict[str, Any]:
    response = s.call(
        "scheduler",
        "POST",
        "/api/v1/appointments",
        json={
            "client_id": demo_id(client),
            "practitioner_id": demo_id(who),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": starts_at.isoformat(),
        },
    )
    assert response.status_code == 201, response.json
    return dict(response.json)


def slots(s: SchedulerSystem, day: date, **params: str) -> Any:
    response = s.call(
        "scheduler",
        "GET",
        "/api/v1/availability",
        query_string={
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "from": day.isoformat(),
            "to": day.isoformat(),
            **params,
        },
    )
    assert response.status_code == 200, response.json
    return response.json


def local_starts(answer: Any) -> list[str]:
    return [
        datetime.fromisoformat(s["starts_at"]).astimezone(NY).strftime("%H:%M")
        for s in answer["slots"]
    ]


def test_availability_follows_hours_buffer_and_existing_sessions(sched: SchedulerSystem) -> None:
    monday = monday_after(7)
    free = local_starts(slots(sched, monday))
    assert free[0] == "09:00" and free[-1] == "16:00" and len(free) == 29
    book(sched, at(monday, 10))
    free = local_starts(slots(sched, monday))
    # 10:00-10:50 plus the 10-minute buffer on both sides: 09:15 to 10:45 are gone.
    assert "09:00" in free and "11:00" in free
    assert not {"09:15", "09:30", "09:45", "10:00", "10:30", "10:45"} & set(free)
    # Saturday: no weekly hours.
    assert slots(sched, monday + timedelta(days=5))["slots"] == []


def test_availability_answers_in_the_requested_zone(sched: SchedulerSystem) -> None:
    monday = monday_after(7)
    answer = slots(sched, monday, time_zone="Asia/Tokyo")
    assert answer["time_zone"] == "Asia/Tokyo"
    first = datetime.fromisoformat(answer["slots"][0]["starts_at"])
    assert first.utcoffset() == timedelta(hours=9)
    assert first == at(monday, 9)


def test_availability_honours_time_off_extra_hours_and_the_clients_calendar(
    sched: SchedulerSystem,
) -> None:
    monday = monday_after(14)
    saturday = monday + timedelta(days=5)
    path = f"/api/v1/practitioners/{demo_id('dr-rivera')}/time-off"
    off = {"starts_at": at(monday, 0).isoformat(), "ends_at": at(monday, 12).isoformat()}
    assert sched.call("scheduler", "POST", path, admin=True, json=off).status_code == 201
    extra = {
        "starts_at": at(saturday, 10).isoformat(),
        "ends_at": at(saturday, 12).isoformat(),
        "kind": "extra",
    }
    assert sched.call("scheduler", "POST", path, admin=True, json=extra).status_code == 201
    assert local_starts(slots(sched, monday))[0] == "12:00"
    assert local_starts(slots(sched, saturday)) == ["10:00", "10:15", "10:30", "10:45", "11:00"]
    # Jordan already sees Sam Okafor at 14:00 that Monday: with client_id those times go.
    book(sched, at(monday, 14), who="sam-okafor")
    with_client = local_starts(slots(sched, monday, client_id=demo_id("client-jordan")))
    assert "13:00" in with_client and "14:00" not in with_client and "13:30" not in with_client
    assert "14:00" in local_starts(slots(sched, monday))


def test_availability_rejects_bad_queries(sched: SchedulerSystem) -> None:
    base = {
        "practitioner_id": demo_id("dr-rivera"),
        "service_type_id": demo_id("ipt-session"),
        "from": "2030-01-01",
        "to": "2030-03-01",
    }
    too_long = sched.call("scheduler", "GET", "/api/v1/availability", query_string=base)
    assert too_long.status_code == 400
    bad_zone = sched.call(
        "scheduler",
        "GET",
        "/api/v1/availability",
        query_string=base | {"to": "2030-01-02", "time_zone": "Nowhere/City"},
    )
    assert bad_zone.status_code == 400
    unknown = sched.call(
        "scheduler",
        "GET",
        "/api/v1/availability",
        query_string=base | {"to": "2030-01-02", "practitioner_id": "nope"},
    )
    assert unknown.status_code == 404


def course(s: SchedulerSystem, first: datetime, sessions: int, **extra: Any) -> Any:
    headers = extra.pop("headers", {})
    return s.call(
        "scheduler",
        "POST",
        "/api/v1/courses",
        headers=headers,
        json={
            "client_id": demo_id("client-jordan"),
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "first_starts_at": first.isoformat(),
            "sessions": sessions,
            **extra,
        },
    )


def test_a_weekly_course_keeps_its_time_across_dst_and_conflicts_are_reported(
    sched: SchedulerSystem,
) -> None:
    change = next_dst_change(monday_after(21))
    first_day = change - timedelta(days=14)
    first_day -= timedelta(days=first_day.weekday() - 1)  # the Tuesday of that week
    starts = [at(first_day + timedelta(weeks=i), 15) for i in range(4)]
    # Someone else holds Dr. Rivera at the third session's time.
    clash = book(sched, starts[2], client="client-priya")

    refused = course(sched, starts[0], 4)
    assert refused.status_code == 409, refused.json
    [conflict] = refused.json["conflicts"]
    assert conflict["session"] == 3
    assert datetime.fromisoformat(conflict["starts_at"]) == starts[2]
    assert conflict["conflicting_appointment_id"] == clash["id"]
    alternatives = [datetime.fromisoformat(a["starts_at"]) for a in conflict["alternatives"]]
    assert len(alternatives) == 3
    assert all(abs(a - starts[2]) <= timedelta(days=3) for a in alternatives)
    assert starts[2] not in alternatives
    assert "session 3" in refused.json["detail"]
    assert sched.count("scheduler", Appointment, Appointment.course_id.is_not(None)) == 0

    booked = course(sched, starts[0], 4, mode="free_only")
    assert booked.status_code == 201, booked.json
    sessions = booked.json["booked"]
    assert len(sessions) == 3 and [s["session"] for s in booked.json["skipped"]] == [3]
    assert {s["course_id"] for s in sessions} == {booked.json["course_id"]}
    local = [datetime.fromisoformat(s["starts_at"]).astimezone(NY) for s in sessions]
    assert {t.strftime("%H:%M") for t in local} == {"15:00"}
    # The same wall-clock time is a different UTC hour on either side of the change.
    utc_hours = {datetime.fromisoformat(s["starts_at"]).astimezone(UTC).hour for s in sessions}
    assert len(utc_hours) == 2
    events = outbox_events(sched, "appointment.booked")
    assert sum(e["course_id"] == booked.json["course_id"] for e in events) == 3
    assert all(e["course_change"] for e in events if e["course_id"] == booked.json["course_id"])
    assert not next(e for e in events if e["appointment_id"] == clash["id"])["course_change"]
    # One course event speaks for the sessions booked together (the notifier's one message).
    [whole] = outbox_events(sched, "course.booked")
    assert whole["course_id"] == booked.json["course_id"]
    assert [x["appointment_id"] for x in whole["sessions"]] == [s["id"] for s in sessions]
    assert whole["every_weeks"] == 1 and whole["time_zone"] == "America/New_York"
    listed = sched.call("scheduler", "GET", f"/api/v1/courses/{booked.json['course_id']}")
    assert [a["id"] for a in listed.json["appointments"]] == [s["id"] for s in sessions]


def test_rescheduling_the_rest_of_a_course_keeps_the_new_wall_clock_time(
    sched: SchedulerSystem,
) -> None:
    change = next_dst_change(monday_after(21))
    first_day = change - timedelta(days=14)
    first_day -= timedelta(days=first_day.weekday())  # Monday
    made = course(sched, at(first_day, 11), 4, every_weeks=1)
    assert made.status_code == 201, made.json
    ids = [a["id"] for a in made.json["booked"]]
    second = made.json["booked"][1]
    moved = sched.call(
        "scheduler",
        "POST",
        f"/api/v1/appointments/{second['id']}/reschedule",
        json={
            "starts_at": at(first_day + timedelta(weeks=1, days=1), 16).isoformat(),
            "scope": "rest_of_course",
        },
    )
    assert moved.status_code == 200, moved.json
    assert [a["id"] for a in moved.json["rescheduled"]] == ids[1:]
    rows = {
        a.id: a
        for a in sched.rows(
            "scheduler", Appointment, Appointment.course_id == made.json["course_id"]
        )
    }
    local = [rows[i].starts_at.astimezone(NY) for i in ids]
    assert local[0] == at(first_day, 11)
    assert [t.strftime("%a %H:%M") for t in local[1:]] == ["Tue 16:00"] * 3
    assert [rows[i].sequence for i in ids] == [1, 2, 2, 2]
    [whole] = outbox_events(sched, "course.rescheduled")
    assert [(x["appointment_id"], x["sequence"]) for x in whole["sessions"]] == [
        (i, 2) for i in ids[1:]
    ]
    assert [
        datetime.fromisoformat(x["previous_starts_at"]).astimezone(NY).strftime("%a %H:%M")
        for x in whole["sessions"]
    ] == ["Mon 11:00"] * 3
    assert all(e["course_change"] for e in outbox_events(sched, "appointment.rescheduled"))
    # Moving the rest onto a time someone else holds is refused as a whole.
    blocker = book(sched, at(first_day + timedelta(weeks=3, days=2), 9), client="client-marek")
    refused = sched.call(
        "scheduler",
        "POST",
        f"/api/v1/appointments/{second['id']}/reschedule",
        json={
            "starts_at": at(first_day + timedelta(weeks=1, days=2), 9).isoformat(),
            "scope": "rest_of_course",
        },
    )
    assert refused.status_code == 409
    assert refused.json["conflicting_appointment_id"] == blocker["id"]
    assert sched.rows("scheduler", Appointment, Appointment.id == ids[1])[0].sequence == 2


def test_a_fortnightly_course_and_its_idempotent_retry(sched: SchedulerSystem) -> None:
    first = at(monday_after(10), 9)
    headers = {"Idempotency-Key": "course-1"}
    made = course(sched, first, 3, every_weeks=2, headers=headers)
    assert made.status_code == 201, made.json
    again = course(sched, first, 3, every_weeks=2, headers=headers)
    assert again.status_code == 201 and again.json == made.json
    assert again.headers["Idempotent-Replayed"] == "true"
    local = [datetime.fromisoformat(a["starts_at"]).astimezone(NY) for a in made.json["booked"]]
    assert [t.date() for t in local] == [first.date() + timedelta(weeks=2 * i) for i in range(3)]
    assert {t.strftime("%H:%M") for t in local} == {"09:00"}
    assert sched.count("scheduler", Appointment) == 3
    past = course(sched, NOW - timedelta(days=1), 3)
    assert past.status_code == 422


def test_cancelling_the_rest_of_a_course(sched: SchedulerSystem) -> None:
    made = course(sched, at(monday_after(7), 13), 4)
    assert made.status_code == 201, made.json
    ids = [a["id"] for a in made.json["booked"]]
    cancelled = sched.call(
        "scheduler",
        "POST",
        f"/api/v1/appointments/{ids[1]}/cancel",
        json={"cancelled_by": "client", "reason": "Moving away", "scope": "rest_of_course"},
    )
    assert cancelled.status_code == 200, cancelled.json
    assert [a["id"] for a in cancelled.json["cancelled"]] == ids[1:]
    rows = {a.id: a for a in sched.rows("scheduler", Appointment, Appointment.id.in_(ids))}
    assert [rows[i].status for i in ids] == ["booked", "cancelled", "cancelled", "cancelled"]
    events = [e for e in outbox_events(sched, "appointment.cancelled")]
    assert sorted(e["appointment_id"] for e in events) == sorted(ids[1:])
    assert {(e["reason"], e["sequence"], e["course_change"]) for e in events} == {
        ("Moving away", 2, True)
    }
    [whole] = outbox_events(sched, "course.cancelled")
    assert [x["appointment_id"] for x in whole["sessions"]] == ids[1:]
    assert whole["cancelled_by"] == "client"


def test_a_booking_is_six_statements_and_its_new_link_is_not_looked_for(
    sched: SchedulerSystem,
) -> None:
    """The two reads (the parties, the overlaps) and one INSERT each for the appointment, its
    self-service link, the event and the audit entry: a new session has no link to look up,
    and the appointment it answers with is complete without reading it back."""
    sched.token()  # signed in beforehand: only the booking's own statements are counted
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(" ".join(statement.split()))

    engine = sched.runtimes["scheduler"].db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        booked = book(sched, at(monday_after(3), 10))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [s.split(" (")[0].split(" FROM ")[-1].split(" WHERE")[0] for s in statements[2:]] == [
        "INSERT INTO appointment",
        "INSERT INTO self_service_link",
        "INSERT INTO outbox",
        "INSERT INTO audit_log",
    ], statements
    assert len(statements) == 6 and "self_service_link" not in " ".join(statements[:2])
    assert booked["reminders_planned"] == 0 and booked["late_cancellation"] is False
    (event_data,) = [
        e for e in outbox_events(sched, "appointment.booked") if e["appointment_id"] == booked["id"]
    ]
    with sched.runtimes["scheduler"].db.sessions() as session:
        link = session.scalars(
            select(SelfServiceLink).where(SelfServiceLink.appointment_id == booked["id"])
        ).one()
    assert event_data["self_service_token"] == link.token and link.revoked_at is None
