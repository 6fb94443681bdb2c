"""Time zones every calendar reader gets right: for every session over two years in New York,
Sydney, Santiago, London and Tokyo, icalendar, vobject and dateutil's tzical read the same UTC
instant as zoneinfo from the scheduler's feed and from the notifier's email invites (real
PostgreSQL, the scheduler's HTTP API, the notifier's dispatcher and an aiosmtpd server)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject
from dateutil import tz

from services.notifier.dispatcher import ReminderDispatcher
from shared.clock import FrozenClock
from shared.contracts.appointments import CourseBooked, CourseSession
from shared.contracts.registry_data import PractitionerRegistered
from shared.demo import demo_id
from tests.fakes.notifier import CLIENT, SERVICE_TYPE, appointment, new_id, notifier_on_postgres
from tests.fakes.smtp import SmtpServer
from tests.integration.test_scheduler_support import SchedulerSystem, scheduler_only

pytestmark = pytest.mark.integration
ZONES = (
    "America/New_York",
    "Australia/Sydney",
    "America/Santiago",
    "Europe/London",
    "Asia/Tokyo",
)
NOW = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # the clock every process of the test reads
SESSIONS = 52  # fortnightly: two years, every DST change of each zone in between


def fortnightly(zone: str, first: date) -> list[datetime]:
    """15:00 on the zone's wall clock every other week, as zoneinfo places it."""
    return [
        datetime.combine(first + timedelta(weeks=2 * i), datetime.min.time(), ZoneInfo(zone))
        .replace(hour=15)
        .astimezone(UTC)
        for i in range(SESSIONS)
    ]


def read_by_three_parsers(raw: bytes) -> dict[str, tuple[datetime, datetime, datetime]]:
    """Each event's start as a UTC instant, by UID, as icalendar, vobject and tzical read it."""
    text = raw.decode()
    calendar = icalendar.Calendar.from_ical(raw)
    zones = tz.tzical(io.StringIO(text))
    vobject_starts = {v.uid.value: v.dtstart.value for v in vobject.readOne(text).vevent_list}
    read = {}
    for event in calendar.walk("VEVENT"):
        uid = str(event["UID"])
        start = event["DTSTART"]
        wall = start.dt.replace(tzinfo=None)
        by_tzical = wall.replace(tzinfo=zones.get(str(start.params["TZID"])))
        read[uid] = (
            event.decoded("DTSTART").astimezone(UTC),
            vobject_starts[uid].astimezone(UTC),
            by_tzical.astimezone(UTC),
        )
    return read


def assert_every_reader_agrees(raw: bytes, expected: dict[str, datetime]) -> None:
    read = read_by_three_parsers(raw)
    assert set(read) == set(expected)
    wrong = [(uid, want, got) for uid, want in expected.items() for got in read[uid] if got != want]
    assert wrong == []


# -- the scheduler's feed ----------------------------------------------------------------------


@pytest.fixture
def sched(system_env: dict[str, str]) -> Iterator[SchedulerSystem]:
    env = system_env | {"RAPPORT_PUBLIC_URL": "https://rapport.example"}
    with scheduler_only(env) as s:
        rt = s.runtimes["scheduler"]
        rt.clock = rt.emitter.clock = FrozenClock(NOW)
        yield s


def practitioner_in(s: SchedulerSystem, zone: str) -> str:
    made = s.call(
        "scheduler",
        "POST",
        "/api/v1/practitioners",
        admin=True,
        json={"display_name": f"Dr. {zone.split('/')[1]}", "time_zone": zone},
    )
    assert made.status_code == 201, made.json
    return str(made.json["id"])


def test_a_clients_feed_reads_the_same_in_every_parser_over_two_years_in_five_zones(
    sched: SchedulerSystem,
) -> None:
    expected: dict[str, datetime] = {}
    for day, zone in enumerate(ZONES):
        practitioner = practitioner_in(sched, zone)
        # A weekday of its own per zone: the one client is never in two sessions at once.
        first = datetime(2026, 11, 9 + day, 15, tzinfo=ZoneInfo(zone))
        course = sched.call(
            "scheduler",
            "POST",
            "/api/v1/courses",
            json={
                "client_id": demo_id("client-jordan"),
                "practitioner_id": practitioner,
                "service_type_id": demo_id("ipt-session"),
                "first_starts_at": first.isoformat(),
                "sessions": SESSIONS,
                "every_weeks": 2,
            },
        )
        assert course.status_code == 201, course.json
        booked = course.json["booked"]
        starts = [datetime.fromisoformat(a["starts_at"]).astimezone(UTC) for a in booked]
        assert starts == fortnightly(zone, first.date())  # the scheduler keeps the wall clock
        expected |= {f"{a['id']}@rapport": at for a, at in zip(booked, starts, strict=True)}

    link = sched.call("scheduler", "GET", f"/api/v1/clients/{demo_id('client-jordan')}/feed")
    path = str(link.json["url"]).removeprefix("https://rapport.example")
    feed = sched.apps["scheduler"].test_client().get(path)
    assert feed.status_code == 200

    assert len(expected) == SESSIONS * len(ZONES)
    assert_every_reader_agrees(feed.data, expected)


# -- the notifier's email invites ----------------------------------------------------------------


@pytest.fixture
def mailbox_and_notifier() -> Iterator[tuple[Any, Any]]:
    smtp = SmtpServer()
    with smtp as mailbox, notifier_on_postgres(NOW, **smtp.env()) as notifier:
        notifier.client(preferred_channels=["email"])
        yield mailbox, notifier


def test_email_invites_read_the_same_in_every_parser_over_two_years_in_five_zones(
    mailbox_and_notifier: tuple[Any, Any],
) -> None:
    mailbox, notifier = mailbox_and_notifier
    for zone in ZONES:
        practitioner = new_id()
        notifier.deliver(
            PractitionerRegistered(
                practitioner_id=practitioner,
                revision=1,
                display_name=f"Dr. {zone.split('/')[1]}",
                time_zone=zone,
            )
        )
        starts = fortnightly(zone, date(2026, 11, 9))
        course_id, ids = new_id(), [new_id() for _ in starts]
        for a, start in zip(ids, starts, strict=True):
            notifier.deliver(
                appointment(
                    "book",
                    a,
                    1,
                    start,
                    course_id=course_id,
                    course_change=True,
                    practitioner_id=practitioner,
                    time_zone=zone,
                )
            )
        notifier.deliver(
            CourseBooked(
                course_id=course_id,
                client_id=CLIENT,
                practitioner_id=practitioner,
                service_type_id=SERVICE_TYPE,
                time_zone=zone,
                every_weeks=2,
                sessions=[
                    CourseSession(
                        appointment_id=a, sequence=1, starts_at=s, ends_at=s + timedelta(minutes=50)
                    )
                    for a, s in zip(ids, starts, strict=True)
                ],
            )
        )
        ReminderDispatcher(notifier.rt).run_once(threading.Event())

        mail = mailbox.received()[-1]
        [part] = [p for p in mail.walk() if p.get_content_type() == "text/calendar"]
        raw = part.get_payload(decode=True)
        [event_zone] = {
            str(e["DTSTART"].params["TZID"])
            for e in icalendar.Calendar.from_ical(raw).walk("VEVENT")
        }
        assert event_zone == zone
        assert_every_reader_agrees(
            raw, {f"{a}@rapport": s for a, s in zip(ids, starts, strict=True)}
        )
    assert len(mailbox.received()) == len(ZONES)
