"""What a client receives, through the real RabbitMQ and PostgreSQL: the scheduler's API and
worker, the notifier's worker, the fake Twilio (through the real twilio SDK) and an aiosmtpd
server. A course is one conversation; the practice speaks for itself (practice.updated)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from services.notifier.tables import AppointmentView, ClientContact, PracticeProfile, Reminder
from shared.clock import FrozenClock
from shared.demo import demo_id
from tests.fakes.smtp import Mailbox, SmtpServer
from tests.fakes.twilio import FakeTwilio, FakeTwilioServer, signed
from tests.integration.conftest import System
from tests.support import wait_until

pytestmark = pytest.mark.integration
NY = ZoneInfo("America/New_York")
# A Tuesday morning at the practice, outside the client's quiet hours.
NOW = datetime(2027, 1, 12, 10, 0, tzinfo=NY)
JORDAN_PHONE = "+16175550123"
PUBLIC = "https://rapport.example"


@dataclass
class World:
    system: System
    twilio: FakeTwilio
    mailbox: Mailbox
    clock: FrozenClock

    def at(self, when: datetime) -> None:
        """Every process's clock to ``when`` (and sign in again: tokens expire by it)."""
        self.clock.set(when)
        self.system.sign_out()

    def texts(self) -> list[str]:
        return [m["Body"] for m in self.twilio.sent() if m["To"] == JORDAN_PHONE]


@pytest.fixture
def world(system_env: dict[str, str]) -> Iterator[World]:
    twilio_server, smtp_server = FakeTwilioServer(), SmtpServer()
    env = (
        system_env
        | twilio_server.env()
        | smtp_server.env()
        | {
            "NOTIFIER_DISPATCH_INTERVAL": "0.2",
            "NOTIFIER_SMS_PER_SECOND": "50",
            "RAPPORT_PUBLIC_URL": PUBLIC,
        }
    )
    with twilio_server as twilio, smtp_server as mailbox:
        system = System(env)
        try:
            system.prepare()
            clock = FrozenClock(NOW)
            for rt in system.runtimes.values():
                rt.clock = rt.emitter.clock = clock
            system.start("scheduler", "notifier")
            wait_until(
                lambda: system.count("notifier", ClientContact) == 3,
                message="the demo clients known to the notifier",
            )
            yield World(system, twilio, mailbox, clock)
        finally:
            system.shutdown()


def book_course(s: System, sessions: int, **extra: object) -> dict[str, object]:
    first = (NOW + timedelta(days=7)).replace(hour=15)  # Tuesday 19 January, 3 PM in New York
    made = s.call(
        "scheduler",
        "POST",
        "/api/v1/courses",
        json={
            "client_id": demo_id("client-jordan"),
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "first_starts_at": first.isoformat(),
            "sessions": sessions,
            **extra,
        },
    )
    assert made.status_code == 201, made.json
    return dict(made.json)


def test_a_twelve_session_course_is_one_confirmation_per_channel(world: World) -> None:
    course = book_course(world.system, 12)
    ids = [a["id"] for a in course["booked"]]  # type: ignore[attr-defined]

    [mail] = wait_until(world.mailbox.received, timeout=30, message="the course confirmation")
    [sms] = wait_until(world.texts, timeout=30, message="the course SMS")
    assert "12 appointments with Dr. Ana Rivera booked, every Tuesday at 3:00 PM EST" in sms
    [part] = [p for p in mail.walk() if p.get_content_type() == "text/calendar"]
    events = icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [f"{a}@rapport" for a in ids]
    # Every session has its own reminders, and no session its own confirmation.
    wait_until(
        lambda: world.system.count("notifier", Reminder, Reminder.kind == "reminder") == 24,
        message="the reminders of every session",
    )
    assert world.system.count("notifier", Reminder, Reminder.kind == "confirmation") == 0
    wait_until(
        lambda: world.system.count("notifier", Reminder, Reminder.status == "sent") == 2,
        message="both confirmations recorded sent",
    )
    assert len(world.mailbox.received()) == 1 and len(world.texts()) == 1

    # Cancelling the rest of the course from the fourth session: one notice.
    cancelled = world.system.call(
        "scheduler",
        "POST",
        f"/api/v1/appointments/{ids[3]}/cancel",
        json={"cancelled_by": "client", "reason": "moving away", "scope": "rest_of_course"},
    )
    assert cancelled.status_code == 200, cancelled.json
    mails = wait_until(
        lambda: len(world.mailbox.received()) == 2 and world.mailbox.received(),
        timeout=30,
        message="the notice",
    )
    assert mails[1]["Subject"] == "Your 9 appointments from February 9, 2027 are cancelled"
    wait_until(
        lambda: (
            world.system.count("notifier", Reminder, Reminder.kind == "course_cancellation_notice")
            == 1
        ),
        message="one notice planned",
    )
    assert len(world.texts()) == 1  # the notice went by email, the first notice channel


def test_a_practice_phone_change_reaches_the_next_sms(world: World) -> None:
    s = world.system
    # The demo's practice arrived as practice.updated when it was seeded.
    wait_until(
        lambda: [p.phone for p in s.rows("notifier", PracticeProfile)] == ["+16175550100"],
        message="the practice known to the notifier",
    )
    changed = s.call(
        "scheduler",
        "PUT",
        "/api/v1/practice",
        admin=True,
        json={
            "name": "Harbour Street Therapy",
            "time_zone": "America/New_York",
            "currency": "USD",
            "cancellation_window_hours": 24,
            "phone": "+1 (617) 555-0177",
            "address": "14 Harbour Street, Boston, MA 02110",
        },
    )
    assert changed.status_code == 200, changed.json
    assert (changed.json["phone"], changed.json["revision"]) == ("+16175550177", 2)
    wait_until(
        lambda: [p.revision for p in s.rows("notifier", PracticeProfile)] == [2],
        message="the change heard by the notifier",
    )

    booked = s.call(
        "scheduler",
        "POST",
        "/api/v1/appointments",
        json={
            "client_id": demo_id("client-jordan"),
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": (NOW + timedelta(days=2)).replace(hour=11).isoformat(),
        },
    )
    assert booked.status_code == 201, booked.json
    # The SMS links to the session's page instead of giving the phone; the email gives it.
    [sms] = wait_until(world.texts, timeout=30, message="the confirmation SMS")
    assert "555-0100" not in sms and "555 0100" not in sms
    [mail] = wait_until(world.mailbox.received, timeout=30, message="the confirmation email")
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    assert "call us on +1 617-555-0177." in text.get_payload(decode=True).decode()


def test_a_bad_practice_update_is_a_problem_and_publishes_nothing(world: World) -> None:
    s = world.system
    before = s.call("scheduler", "GET", "/api/v1/practice").json
    refused = s.call(
        "scheduler",
        "PUT",
        "/api/v1/practice",
        admin=True,
        json={**{k: before[k] for k in ("name", "time_zone", "currency")}, "phone": "call us",
              "cancellation_window_hours": 24},
    )  # fmt: skip
    assert refused.status_code == 422
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert s.call("scheduler", "GET", "/api/v1/practice").json == before


def test_a_video_sessions_join_link_reaches_the_email_the_invite_and_the_feed(
    world: World,
) -> None:
    s = world.system
    link = "https://meet.example.com/r/jordan-7f3k"
    starts_at = (NOW + timedelta(days=2)).replace(hour=11)
    booked = s.call(
        "scheduler",
        "POST",
        "/api/v1/appointments",
        json={
            "client_id": demo_id("client-jordan"),
            "practitioner_id": demo_id("sam-okafor"),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": starts_at.isoformat(),
            "video_url": link,
        },
    )
    assert booked.status_code == 201, booked.json
    assert booked.json["video_url"] == link
    a = booked.json["id"]

    [mail] = wait_until(world.mailbox.received, timeout=30, message="the confirmation email")
    parts = {p.get_content_type(): p for p in mail.walk()}
    assert f"Join the video call: {link}" in parts["text/plain"].get_payload(decode=True).decode()
    assert f'href="{link}"' in parts["text/html"].get_payload(decode=True).decode()
    [event] = icalendar.Calendar.from_ical(parts["text/calendar"].get_payload(decode=True)).walk(
        "VEVENT"
    )
    assert (str(event["URL"]), str(event["CONFERENCE"])) == (link, link)
    assert event["CONFERENCE"].params["FEATURE"] == ["AUDIO", "VIDEO"]
    # The SMS leaves the link out unless the practice chooses otherwise (one segment).
    [sms] = wait_until(world.texts, timeout=30, message="the confirmation SMS")
    assert link not in sms

    feed_link = s.call("scheduler", "GET", f"/api/v1/clients/{demo_id('client-jordan')}/feed")
    path = str(feed_link.json["url"]).split("/feeds/", 1)[1]
    feed = s.apps["scheduler"].test_client().get(f"/feeds/{path}")
    [in_feed] = icalendar.Calendar.from_ical(feed.data).walk("VEVENT")
    assert (str(in_feed["URL"]), str(in_feed["CONFERENCE"])) == (link, link)

    # The desk changes the link; a bad one is refused and changes nothing.
    refused = s.call(
        "scheduler", "PATCH", f"/api/v1/appointments/{a}", json={"video_url": "meet me there"}
    )
    assert refused.status_code == 422
    assert refused.headers["Content-Type"] == "application/problem+json"
    new_link = "https://meet.example.com/r/jordan-new"
    changed = s.call(
        "scheduler", "PATCH", f"/api/v1/appointments/{a}", json={"video_url": new_link}
    )
    assert changed.status_code == 200, changed.json
    assert (changed.json["video_url"], changed.json["sequence"]) == (new_link, 2)
    feed = s.apps["scheduler"].test_client().get(f"/feeds/{path}")
    assert str(icalendar.Calendar.from_ical(feed.data).walk("VEVENT")[0]["URL"]) == new_link
    wait_until(
        lambda: [v.video_url for v in s.rows("notifier", AppointmentView)] == [new_link],
        message="the notifier's copy of the new link",
    )


def test_a_reply_to_the_third_sessions_reminder_confirms_the_third_session(world: World) -> None:
    s = world.system
    starts = [
        datetime(2027, 1, 14, 15, 0, tzinfo=NY),
        datetime(2027, 1, 15, 15, 0, tzinfo=NY),
        datetime(2027, 1, 16, 10, 0, tzinfo=NY),
    ]
    ids = []
    for start in starts:
        booked = s.call(
            "scheduler",
            "POST",
            "/api/v1/appointments",
            json={
                "client_id": demo_id("client-jordan"),
                "practitioner_id": demo_id("dr-rivera"),
                "service_type_id": demo_id("ipt-session"),
                "starts_at": start.isoformat(),
            },
        )
        assert booked.status_code == 201, booked.json
        ids.append(booked.json["id"])
    wait_until(lambda: len(world.texts()) == 3, timeout=30, message="three confirmation SMS")

    # The second session's reminder (24 hours before it), then the third's, each in its turn.
    world.at(datetime(2027, 1, 14, 15, 30, tzinfo=NY))
    wait_until(lambda: len(world.texts()) == 4, timeout=30, message="the second's reminder")
    world.at(datetime(2027, 1, 15, 10, 0, tzinfo=NY))
    third_reminder = wait_until(
        lambda: len(world.texts()) == 5 and world.texts()[-1], timeout=30, message="the third's"
    )
    assert "reminder of Sat, Jan 16 at 10:00 AM EST" in third_reminder

    form = {"MessageSid": "SM" + "3" * 32, "From": JORDAN_PHONE, "To": "+16175550199", "Body": "C"}
    path = "/webhooks/twilio/sms"
    reply = (
        s.apps["notifier"].test_client().post(path, data=form, headers=signed(PUBLIC + path, form))
    )
    assert reply.status_code == 200

    def shown(a: str) -> tuple[str, str | None]:
        got = s.call("scheduler", "GET", f"/api/v1/appointments/{a}").json
        return got["status"], got["confirmed_by"]

    wait_until(
        lambda: shown(ids[2]) == ("confirmed", "client"),
        timeout=30,
        message="the third session confirmed by the client",
    )
    assert shown(ids[1]) == ("booked", None)  # the second, still unconfirmed, is untouched
    answer = wait_until(
        lambda: len(world.texts()) == 6 and world.texts()[-1], timeout=30, message="the answer"
    )
    assert "your appointment on Sat, Jan 16 at 10:00 AM EST" in answer
    assert "is confirmed" in answer
