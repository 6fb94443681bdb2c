"""A course is one conversation: on real PostgreSQL, the fake Twilio (through the real twilio
SDK) and an aiosmtpd server, a course booked, moved or cancelled together gets one message per
channel naming every session, while reminders stay per session."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from services.notifier.dispatcher import ReminderDispatcher
from services.notifier.tables import Reminder
from shared.contracts.appointments import (
    CourseBooked,
    CourseCancelled,
    CourseRescheduled,
    CourseSession,
)
from shared.contracts.registry_data import PracticeUpdated
from tests.fakes.notifier import (
    CLIENT,
    PRACTITIONER,
    SERVICE_TYPE,
    Notifier,
    appointment,
    new_id,
    notifier_on_postgres,
)
from tests.fakes.smtp import Mailbox, SmtpServer
from tests.fakes.twilio import FakeTwilio, FakeTwilioServer

pytestmark = pytest.mark.integration
NEW_YORK = ZoneInfo("America/New_York")


def ny(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


def weekly(first: datetime, count: int) -> list[datetime]:
    """Every week at the same New York wall-clock time (across the DST change in March)."""
    local = first.astimezone(NEW_YORK)
    return [
        (local + timedelta(weeks=i)).replace(tzinfo=NEW_YORK).astimezone(UTC) for i in range(count)
    ]


@dataclass
class World:
    notifier: Notifier
    twilio: FakeTwilio
    mailbox: Mailbox
    dispatcher: ReminderDispatcher

    def run(self) -> None:
        self.dispatcher.run_once(threading.Event())

    def book_course(self, starts: list[datetime]) -> tuple[str, list[str]]:
        course_id, ids = new_id(), [new_id() for _ in starts]
        for a, start in zip(ids, starts, strict=True):
            self.notifier.deliver(
                appointment("book", a, 1, start, course_id=course_id, course_change=True)
            )
        self.notifier.deliver(
            CourseBooked(
                **course(course_id, [(a, 1, s, None) for a, s in zip(ids, starts, strict=True)])
            )
        )
        return course_id, ids


def course(
    course_id: str, sessions: list[tuple[str, int, datetime, datetime | None]]
) -> dict[str, object]:
    return {
        "course_id": course_id,
        "client_id": CLIENT,
        "practitioner_id": PRACTITIONER,
        "service_type_id": SERVICE_TYPE,
        "time_zone": "America/New_York",
        "every_weeks": 1,
        "sessions": [
            CourseSession(
                appointment_id=a,
                sequence=seq,
                starts_at=start,
                ends_at=start + timedelta(minutes=50),
                previous_starts_at=previous,
            )
            for a, seq, start, previous in sessions
        ],
    }


@pytest.fixture
def world() -> Iterator[World]:
    twilio_server, smtp_server = FakeTwilioServer(), SmtpServer()
    env = twilio_server.env() | smtp_server.env() | {"NOTIFIER_SMS_PER_SECOND": "50"}
    with (
        twilio_server as twilio_fake,
        smtp_server as mailbox,
        notifier_on_postgres(ny(2, 23, 12), **env) as notifier,
    ):
        notifier.client()
        notifier.practitioner()
        yield World(notifier, twilio_fake, mailbox, ReminderDispatcher(notifier.rt))


def calendar_of(mail: object) -> Calendar:
    parts = {part.get_content_type(): part for part in mail.walk()}  # type: ignore[attr-defined]
    return Calendar.from_ical(parts["text/calendar"].get_payload(decode=True))


def test_a_twelve_session_course_gets_one_confirmation_per_channel_with_every_session(
    world: World,
) -> None:
    starts = weekly(ny(3, 3, 14), 12)  # Tuesdays 2 PM, across the change to EDT on March 8
    course_id, ids = world.book_course(starts)

    world.run()

    [mail] = world.mailbox.received()
    assert mail["Subject"] == "Your 12 appointments from March 3, 2026"
    ics = calendar_of(mail)
    assert str(ics["METHOD"]) == "REQUEST"
    events = ics.walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [f"{a}@rapport" for a in ids]
    assert [e.decoded("DTSTART") for e in events] == starts
    [sms] = world.twilio.sent()
    assert "12 appointments with Dr. Ana Rivera booked, every Tuesday at 2:00 PM EST" in sms["Body"]
    assert len(sms["Body"]) <= 160

    confirmations = world.notifier.rows(Reminder, Reminder.kind == "course_confirmation")
    assert sorted((r.channel, r.status, r.course_id) for r in confirmations) == [
        ("email", "sent", course_id),
        ("sms", "sent", course_id),
    ]
    reminders = world.notifier.rows(Reminder, Reminder.kind == "reminder")
    assert sorted((r.appointment_id, r.channel) for r in reminders) == sorted(
        (a, channel) for a in ids for channel in ("email", "sms")
    )
    assert world.notifier.rows(Reminder, Reminder.kind == "confirmation") == []


def test_a_course_booked_free_only_names_the_dates_it_kept(world: World) -> None:
    starts = weekly(ny(3, 3, 14), 6)
    kept = starts[:2] + starts[3:]  # the third clashed and was skipped
    world.book_course(kept)

    world.run()

    [sms] = world.twilio.sent()
    assert "5 appointments with Dr. Ana Rivera booked" in sms["Body"]
    assert "Dates: Mar 3, Mar 10, Mar 24, Mar 31, Apr 7." in sms["Body"]
    [mail] = world.mailbox.received()
    assert len(calendar_of(mail).walk("VEVENT")) == 5


def test_moving_the_rest_of_a_course_sends_one_notice(world: World) -> None:
    starts = weekly(ny(3, 3, 14), 6)
    course_id, ids = world.book_course(starts)
    world.run()
    mails, texts = len(world.mailbox.received()), len(world.twilio.sent())

    moved = [s + timedelta(days=1) for s in starts[2:]]
    for a, old, new in zip(ids[2:], starts[2:], moved, strict=True):
        world.notifier.deliver(
            appointment(
                "reschedule",
                a,
                2,
                new,
                course_id=course_id,
                course_change=True,
                previous_starts_at=old,
            )
        )
    world.notifier.deliver(
        CourseRescheduled(
            **course(
                course_id,
                [(a, 2, new, old) for a, new, old in zip(ids[2:], moved, starts[2:], strict=True)],
            )
        )
    )
    world.run()

    [mail] = world.mailbox.received()[mails:]
    assert mail["Subject"] == "Your 4 appointments have moved"
    events = calendar_of(mail).walk("VEVENT")
    assert [(str(e["UID"]), int(e["SEQUENCE"])) for e in events] == [
        (f"{a}@rapport", 2) for a in ids[2:]
    ]
    assert world.twilio.sent()[texts:] == []  # one notice, on the first channel of notice_channels
    for a, new in zip(ids[2:], moved, strict=True):
        pending = world.notifier.rows(
            Reminder, Reminder.appointment_id == a, Reminder.status == "planned"
        )
        assert sorted((r.kind, r.channel) for r in pending) == [
            ("reminder", "email"),
            ("reminder", "sms"),
        ]
        assert all(r.due_at > new - timedelta(hours=49) for r in pending)


def test_cancelling_the_rest_of_a_course_sends_one_notice_and_its_reminders_stop(
    world: World,
) -> None:
    starts = weekly(ny(3, 3, 14), 6)
    course_id, ids = world.book_course(starts)
    world.run()
    mails = len(world.mailbox.received())

    for a, start in zip(ids[1:], starts[1:], strict=True):
        world.notifier.deliver(
            appointment("cancel", a, 2, start, course_id=course_id, course_change=True)
        )
    world.notifier.deliver(
        CourseCancelled(
            **course(
                course_id, [(a, 2, s, None) for a, s in zip(ids[1:], starts[1:], strict=True)]
            ),
            cancelled_by="client",
        )
    )
    world.run()

    [mail] = world.mailbox.received()[mails:]
    assert mail["Subject"] == "Your 5 appointments from March 10, 2026 are cancelled"
    ics = calendar_of(mail)
    assert str(ics["METHOD"]) == "CANCEL"
    assert [str(e["UID"]) for e in ics.walk("VEVENT")] == [f"{a}@rapport" for a in ids[1:]]
    for a in ids[1:]:
        assert (
            world.notifier.rows(
                Reminder, Reminder.appointment_id == a, Reminder.status == "planned"
            )
            == []
        )
    first_pending = world.notifier.rows(
        Reminder, Reminder.appointment_id == ids[0], Reminder.status == "planned"
    )
    assert len(first_pending) == 2  # the session that stays keeps its reminders


def test_a_session_without_a_place_of_its_own_is_at_the_practices_address(world: World) -> None:
    world.notifier.deliver(
        PracticeUpdated(
            practice_id=new_id(),
            revision=1,
            name="Harbour Street Therapy",
            time_zone="America/New_York",
            currency="USD",
            phone="+16175550100",
            address="41 Harbour Street, Boston, MA 02110",
        )
    )
    world.notifier.deliver(appointment("book", new_id(), 1, ny(3, 3, 14)))

    world.run()

    [mail] = world.mailbox.received()
    parts = {p.get_content_type(): p for p in mail.walk()}
    text = parts["text/plain"].get_payload(decode=True).decode()
    assert "Where: 41 Harbour Street, Boston, MA 02110" in text
    [event] = calendar_of(mail).walk("VEVENT")
    assert str(event["LOCATION"]) == "41 Harbour Street, Boston, MA 02110"
    [sms] = world.twilio.sent()
    assert sms["Body"].endswith("+1 617-555-0100")  # the practice's phone, as a client dials it
