"""The dispatcher on real PostgreSQL against a fake Twilio (through the real twilio SDK) and an
aiosmtpd server: what goes out, when, how often, and what is recorded and published."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import event

from services.notifier.channels import OutboundMessage
from services.notifier.channels.sandbox import Sandbox
from services.notifier.dispatcher import ReminderDispatcher, SenderRateLimit
from services.notifier.tables import ClientContact, Message, Reminder, SandboxMessage
from shared.web import create_service_app
from tests.fakes.notifier import Notifier, appointment, bearer, new_id, notifier_on_postgres
from tests.fakes.smtp import Mailbox, SmtpServer
from tests.fakes.twilio import FROM_NUMBER, Answer, FakeTwilio, FakeTwilioServer

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = [pytest.mark.integration, pytest.mark.clock]
NEW_YORK = ZoneInfo("America/New_York")
THERAPY_WORDS = ("therapy", "psychotherapy", "ipt", "interpersonal", "diagnos", "intake", "session")


def ny(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


@dataclass
class World:
    notifier: Notifier
    twilio: FakeTwilio
    mailbox: Mailbox
    dispatcher: ReminderDispatcher

    def run(self) -> None:
        self.dispatcher.run_once(threading.Event())

    def reminders(self, appointment_id: str, **where: str) -> list[Reminder]:
        return [
            r
            for r in self.notifier.rows(
                Reminder, Reminder.appointment_id == appointment_id, order_by=Reminder.due_at
            )
            if all(getattr(r, k) == v for k, v in where.items())
        ]


@pytest.fixture
def world() -> Iterator[World]:
    twilio_server, smtp_server = FakeTwilioServer(), SmtpServer()
    env = (
        twilio_server.env()
        | smtp_server.env()
        | {
            "NOTIFIER_RETRY_DELAYS": "60,120",
            "NOTIFIER_MAX_SEND_ATTEMPTS": "3",
            "NOTIFIER_SMS_PER_SECOND": "50",
            "NOTIFIER_SENDING_TIMEOUT": "300",
            "RAPPORT_PUBLIC_URL": "https://rapport.example",
        }
    )
    with (
        twilio_server as twilio_fake,
        smtp_server as mailbox,
        notifier_on_postgres(ny(4, 6, 12), **env) as notifier,
    ):
        notifier.client()
        notifier.practitioner()
        yield World(notifier, twilio_fake, mailbox, ReminderDispatcher(notifier.rt))


def test_booking_sends_the_confirmation_email_with_a_calendar_invite_and_an_sms(
    world: World,
) -> None:
    a = new_id()
    world.notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))

    world.run()

    [mail] = world.mailbox.received()
    assert mail["To"] == "jordan@example.com"
    assert mail["Subject"] == "Your appointment on Wednesday, April 15, 2026"
    parts = {part.get_content_type(): part for part in mail.walk()}
    assert "Dr. Ana Rivera" in parts["text/plain"].get_payload(decode=True).decode()
    assert "text/html" in parts
    ics = Calendar.from_ical(parts["text/calendar"].get_payload(decode=True))
    [event] = ics.walk("VEVENT")
    assert str(ics["METHOD"]) == "REQUEST"
    assert event["UID"] == f"{a}@rapport"
    assert event.decoded("DTSTART") == ny(4, 15, 15)
    assert str(event["SUMMARY"]) == "Appointment with Dr. Ana Rivera"

    [sms] = world.twilio.sent()
    assert sms["To"] == "+16175550123"
    assert sms["From"] == FROM_NUMBER
    assert sms["StatusCallback"] == "https://rapport.example/webhooks/twilio/status"
    assert "Wed, Apr 15 at 3:00 PM EDT" in sms["Body"]
    assert len(sms["Body"]) <= 160  # one GSM-7 segment
    assert "Reply C to confirm" in sms["Body"]
    assert "CANCEL" not in sms["Body"].upper().replace("CANCELLED", "")
    for text in (sms["Body"], parts["text/plain"].get_payload(decode=True).decode()):
        # The practice's own name is its choice; nothing else may hint at what the visit is for.
        words = text.replace("Harbour Street Therapy", "").lower()
        assert not any(word in words for word in THERAPY_WORDS), text

    sent = world.reminders(a, status="sent")
    assert sorted((r.kind, r.channel) for r in sent) == [
        ("confirmation", "email"),
        ("confirmation", "sms"),
    ]
    published = world.notifier.outbox("reminder.sent")
    assert sorted(e["channel"] for e in published) == ["email", "sms"]
    log = world.notifier.rows(Message, Message.appointment_id == a)
    assert sorted((m.channel, m.status) for m in log) == [("email", "sent"), ("sms", "queued")]
    assert all(m.provider_id for m in log)


def test_the_sms_reminder_goes_out_when_due_and_not_before(world: World) -> None:
    a = new_id()
    world.notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))
    world.run()  # the confirmations
    world.notifier.clock.set(ny(4, 14, 14, 59))
    world.run()
    assert len(world.twilio.sent()) == 1

    world.notifier.clock.set(ny(4, 14, 15, 0))
    world.run()
    world.run()  # a second round sends nothing more

    bodies = [r["Body"] for r in world.twilio.sent()]
    assert len(bodies) == 2
    assert bodies[1].startswith("Harbour Street Therapy: reminder of Wed, Apr 15 at 3:00 PM EDT")
    [reminder] = world.reminders(a, kind="reminder", channel="sms")
    assert (reminder.status, reminder.attempts) == ("sent", 1)


def test_nothing_is_sent_for_a_cancelled_or_started_appointment(world: World) -> None:
    cancelled, started = new_id(), new_id()
    world.notifier.deliver(appointment("book", cancelled, 1, ny(4, 15, 15)))
    world.notifier.deliver(appointment("book", started, 1, ny(4, 7, 9)))
    world.notifier.deliver(appointment("cancel", cancelled, 2, ny(4, 15, 15)))
    world.notifier.clock.set(ny(4, 7, 9, 30))  # the second one has begun

    world.run()

    assert world.twilio.sent() == []
    [notice] = world.mailbox.received()  # the one cancellation notice, and nothing else
    assert notice["Subject"] == "Your appointment on Wednesday, April 15, 2026 is cancelled"
    ics = Calendar.from_ical(
        next(p for p in notice.walk() if p.get_content_type() == "text/calendar").get_payload(
            decode=True
        )
    )
    assert str(ics["METHOD"]) == "CANCEL"
    # Its confirmations were skipped; its reminders, due before it was even booked, never
    # were planned, and say so.
    assert sorted((r.kind, r.channel, r.status) for r in world.reminders(started)) == [
        ("confirmation", "email", "skipped"),
        ("confirmation", "sms", "skipped"),
        ("reminder", "email", "not_planned"),
        ("reminder", "sms", "not_planned"),
    ]


def test_twilio_500_then_201_is_retried_after_the_back_off_and_sent_once(world: World) -> None:
    world.twilio.script(Answer(500))
    a = new_id()
    world.notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))

    world.run()
    [sms] = world.reminders(a, kind="confirmation", channel="sms")
    assert (sms.status, sms.attempts) == ("planned", 1)
    assert sms.next_attempt_at == ny(4, 6, 12, 1)
    world.run()  # too soon: nothing
    assert len(world.twilio.sent()) == 1

    world.notifier.clock.advance(timedelta(seconds=60))
    world.run()

    [sms] = world.reminders(a, kind="confirmation", channel="sms")
    assert (sms.status, sms.attempts) == ("sent", 2)
    assert len(world.twilio.sent()) == 2
    assert world.notifier.outbox("reminder.failed") == []
    assert len([e for e in world.notifier.outbox("reminder.sent") if e["channel"] == "sms"]) == 1


def test_transient_failures_stop_after_the_attempt_limit(world: World) -> None:
    world.twilio.script(Answer(429, 20429), Answer(503), Answer(400, 30003))
    a = new_id()
    world.notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))
    for _ in range(5):
        world.run()
        world.notifier.clock.advance(timedelta(minutes=5))

    [sms] = world.reminders(a, kind="confirmation", channel="sms")
    assert (sms.status, sms.attempts) == ("failed", 3)
    assert len(world.twilio.sent()) == 3
    [failed] = world.notifier.outbox("reminder.failed")
    assert failed["permanent"] is False
    assert failed["reason"].startswith("gave up after 3 attempts")


def test_an_invalid_number_fails_for_good_and_the_reminder_goes_by_email(world: World) -> None:
    a = new_id()
    world.notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))
    world.run()  # confirmations
    world.notifier.clock.set(ny(4, 13, 15))
    world.run()  # the 48h email
    world.twilio.script(Answer(400, 21211))
    world.notifier.clock.set(ny(4, 14, 15))

    world.run()  # the 24h SMS: refused, so an email now instead
    world.run()

    [sms] = world.reminders(a, kind="reminder", channel="sms")
    assert sms.status == "failed"
    [failed] = world.notifier.outbox("reminder.failed")
    assert (failed["reminder_id"], failed["permanent"]) == (sms.id, True)
    assert "21211" in failed["reason"]
    [fallback] = world.reminders(a, fallback_of=sms.id)
    assert (fallback.channel, fallback.status) == ("email", "sent")
    assert [m["Subject"] for m in world.mailbox.received()][-1].startswith("Reminder:")
    assert len(world.twilio.sent()) == 2  # the confirmation and the one refused: no retry


def test_an_unsubscribed_number_marks_the_client_opted_out(world: World) -> None:
    world.twilio.script(Answer(400, 21610))
    a = new_id()
    world.notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))

    world.run()

    [contact] = world.notifier.rows(ClientContact)
    assert contact.sms_opted_out is True
    [opted_out] = world.notifier.outbox("client.opted_out")
    assert (opted_out["channel"], opted_out["opted_out"]) == ("sms", True)
    world.notifier.clock.set(ny(4, 14, 15))
    world.run()
    assert len(world.twilio.sent()) == 1
    assert world.reminders(a, kind="reminder", channel="sms")[0].status == "skipped"


SMS_ONLY = "44444444-4444-4444-8444-444444444444"
EMAIL_ONLY = "55555555-5555-4555-8555-555555555555"


def booked_for(world: World, client_id: str, channel: str) -> str:
    """A client who takes only ``channel``, booked: one confirmation due now."""
    world.notifier.client(
        client_id, phone="+16175550177", email="sam@example.com", preferred_channels=[channel]
    )
    a = new_id()
    world.notifier.deliver(appointment("book", a, 1, ny(4, 15, 15), client_id=client_id))
    return a


def test_a_claim_marks_only_the_message_about_to_be_sent(world: World) -> None:
    a = new_id()
    world.notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))

    job = world.dispatcher.claim_next()  # then the worker dies before calling the provider

    assert job is not None
    statuses = {r.channel: r.status for r in world.reminders(a, kind="confirmation")}
    assert statuses == {
        job.message.channel: "sending",
        "sms" if job.message.channel == "email" else "email": "planned",
    }
    other = ReminderDispatcher(world.notifier.rt)  # a second worker sends the other one now
    other.run_once(threading.Event())
    assert len(world.twilio.sent()) + len(world.mailbox.received()) == 1
    [sending] = [r for r in world.reminders(a) if r.status == "sending"]
    assert sending.channel == job.message.channel


def test_an_sms_twilio_got_before_the_worker_died_is_settled_sent_and_not_resent(
    world: World,
) -> None:
    world.twilio.clock = world.notifier.clock.now
    a = booked_for(world, SMS_ONLY, "sms")
    job = world.dispatcher.claim_next()
    assert job is not None
    world.dispatcher.channels["sms"].send(job.message)  # Twilio has it; the worker dies now

    world.run()
    assert [r.status for r in world.reminders(a, kind="confirmation")] == [
        "sending"
    ]  # not yet past the timeout
    world.notifier.clock.advance(timedelta(seconds=301))
    world.run()

    [reminder] = world.reminders(a, kind="confirmation")
    assert (reminder.status, reminder.attempts) == ("sent", 1)
    [sms] = world.twilio.sent()
    [held] = world.twilio.messages
    [logged] = world.notifier.rows(Message, Message.appointment_id == a)
    assert (logged.status, logged.provider_id) == ("queued", held["sid"])
    [asked] = world.twilio.lists
    assert asked["To"] == sms["To"] and "DateSent>" in asked
    [published] = world.notifier.outbox("reminder.sent")
    assert published["message_id"] == logged.id
    assert world.notifier.outbox("reminder.failed") == []


def test_an_sms_that_never_reached_twilio_is_sent_once_when_settled(world: World) -> None:
    world.twilio.clock = world.notifier.clock.now
    a = booked_for(world, SMS_ONLY, "sms")
    assert world.dispatcher.claim_next() is not None  # the worker dies before calling Twilio

    world.notifier.clock.advance(timedelta(seconds=301))
    world.run()
    world.run()

    [reminder] = world.reminders(a, kind="confirmation")
    assert (reminder.status, reminder.attempts) == ("sent", 2)
    assert len(world.twilio.sent()) == 1
    log = world.notifier.rows(Message, Message.appointment_id == a, order_by=Message.created_at)
    assert [(m.status, m.error_code) for m in log] == [("failed", "not_received"), ("queued", None)]
    assert len(world.notifier.outbox("reminder.sent")) == 1
    assert world.notifier.outbox("reminder.failed") == []


def test_an_earlier_message_to_that_number_the_same_day_does_not_block_the_settlement(
    world: World,
) -> None:
    world.twilio.clock = world.notifier.clock.now
    client = world.dispatcher.channels["sms"].client  # type: ignore[attr-defined]
    world.notifier.clock.advance(timedelta(hours=-2))  # another system texted the client at 10:00
    client.messages.create(to="+16175550177", from_=FROM_NUMBER, body="Sent from elsewhere")
    world.notifier.clock.advance(timedelta(hours=2))
    a = booked_for(world, SMS_ONLY, "sms")
    assert world.dispatcher.claim_next() is not None  # dies before calling Twilio

    world.notifier.clock.advance(timedelta(seconds=301))
    world.run()
    world.run()

    [reminder] = world.reminders(a, kind="confirmation")
    assert (reminder.status, reminder.attempts) == ("sent", 2)
    assert world.twilio.has("+16175550177") == 2
    assert world.twilio.lists[0]["DateSent>"] == "2026-04-06"


def test_an_sms_twilio_cannot_vouch_for_becomes_unknown(world: World) -> None:
    world.twilio.clock = world.notifier.clock.now
    a = booked_for(world, SMS_ONLY, "sms")
    job = world.dispatcher.claim_next()
    assert job is not None
    # Twilio holds a message to that number the log knows nothing of (another system's, or a
    # body Twilio rewrote): it may be ours, so neither "sent" nor a second one.
    world.dispatcher.channels["sms"].send(replace(job.message, text="Something else entirely"))

    world.notifier.clock.advance(timedelta(seconds=301))
    world.run()

    assert [r.status for r in world.reminders(a, kind="confirmation")] == ["unknown"]
    assert len(world.twilio.sent()) == 1
    [failed] = world.notifier.outbox("reminder.failed")
    assert failed["reason"] == "outcome_unknown"


def test_an_email_in_doubt_is_never_resent_and_becomes_unknown(world: World) -> None:
    a = booked_for(world, EMAIL_ONLY, "email")
    assert world.dispatcher.claim_next() is not None  # the worker dies before (or after) SMTP

    world.run()
    assert {r.status for r in world.reminders(a, kind="confirmation")} == {"sending"}
    world.notifier.clock.advance(timedelta(seconds=301))
    world.run()

    assert {r.status for r in world.reminders(a, kind="confirmation")} == {"unknown"}
    assert world.mailbox.received() == []
    [failure] = world.notifier.outbox("reminder.failed")
    assert (failure["channel"], failure["reason"]) == ("email", "outcome_unknown")
    log = world.notifier.rows(Message, Message.appointment_id == a)
    assert {m.status for m in log} == {"unknown"}
    http = create_service_app(world.notifier.rt).test_client()
    review = http.get("/api/v1/reminders?status=unknown", headers=bearer(world.notifier.rt))
    assert [r["channel"] for r in review.json["items"]] == ["email"]


def test_an_email_in_doubt_is_resent_where_the_practice_allows_duplicates(world: World) -> None:
    a = booked_for(world, EMAIL_ONLY, "email")
    assert world.dispatcher.claim_next() is not None
    world.dispatcher.settings = replace(world.dispatcher.settings, resend_email_in_doubt=True)

    world.notifier.clock.advance(timedelta(seconds=301))
    world.run()
    world.run()

    assert [(r.status, r.attempts) for r in world.reminders(a, kind="confirmation")] == [
        ("sent", 2)
    ]
    assert len(world.mailbox.received()) == 1
    assert world.notifier.outbox("reminder.failed") == []


def test_a_worker_told_to_stop_finishes_the_message_in_hand_and_claims_no_more(
    world: World,
) -> None:
    for n in range(3):
        client = f"00000000-0000-4000-8000-{n:012d}"
        world.notifier.client(client, phone=f"+1617555{n:04d}", preferred_channels=["sms"])
        world.notifier.deliver(appointment("book", new_id(), 1, ny(4, 15, 9 + n), client_id=client))
    stop = threading.Event()
    twilio = world.dispatcher.channels["sms"]

    class StopDuringSend:
        name = twilio.name

        def send(self, message: OutboundMessage) -> str:
            stop.set()  # SIGTERM arrives while Twilio is being called
            return twilio.send(message)

    world.dispatcher.channels["sms"] = StopDuringSend()
    world.dispatcher.settings = replace(world.dispatcher.settings, send_concurrency=1)
    world.dispatcher.run_once(stop)

    statuses = sorted(
        r.status for r in world.notifier.rows(Reminder, Reminder.kind == "confirmation")
    )
    assert statuses == ["planned", "planned", "sent"]
    assert len(world.twilio.sent()) == 1


def test_sending_threads_told_to_stop_finish_the_messages_in_hand_and_leave_none_in_doubt(
    world: World,
) -> None:
    for n in range(6):
        client = f"00000000-0000-4000-8000-{n:012d}"
        world.notifier.client(client, phone=f"+1617555{n:04d}", preferred_channels=["sms"])
        world.notifier.deliver(appointment("book", new_id(), 1, ny(4, 15, 9 + n), client_id=client))
    stop = threading.Event()
    twilio = world.dispatcher.channels["sms"]

    class StopDuringSend:
        name = twilio.name

        def send(self, message: OutboundMessage) -> str:
            stop.set()  # SIGTERM arrives while Twilio is being called
            return twilio.send(message)

    world.dispatcher.channels["sms"] = StopDuringSend()
    world.dispatcher.settings = replace(world.dispatcher.settings, send_concurrency=3)
    world.dispatcher.run_once(stop)

    statuses = [r.status for r in world.notifier.rows(Reminder, Reminder.kind == "confirmation")]
    sent = world.twilio.sent()
    assert set(statuses) <= {"planned", "sent"}  # nothing left "sending"
    assert 1 <= statuses.count("sent") == len(sent) <= 3  # at most one per sending thread
    assert len({r["To"] for r in sent}) == len(sent)


def test_a_worker_told_to_stop_while_it_waits_for_the_rate_limit_releases_the_reminder(
    world: World,
) -> None:
    a = booked_for(world, SMS_ONLY, "sms")
    stop = threading.Event()
    world.dispatcher.limit = SenderRateLimit(0.01)  # the next SMS may leave in 100 s
    world.dispatcher.limit.last[FROM_NUMBER] = time.monotonic()
    worker = threading.Thread(target=world.dispatcher.run_once, args=(stop,))
    worker.start()
    time.sleep(0.5)
    stop.set()
    worker.join(10)

    assert not worker.is_alive()
    [reminder] = world.reminders(a, kind="confirmation")
    assert (reminder.status, reminder.attempts) == ("planned", 0)
    assert world.notifier.rows(Message, Message.appointment_id == a) == []
    assert world.twilio.sent() == []


def test_the_sandbox_settles_what_it_recorded_and_resends_what_it_did_not(world: World) -> None:
    sandbox = Sandbox(world.notifier.rt.db, world.notifier.clock)
    dispatcher = ReminderDispatcher(world.notifier.rt, channels={"sms": sandbox, "email": sandbox})
    recorded, lost = booked_for(world, SMS_ONLY, "sms"), booked_for(world, EMAIL_ONLY, "email")
    jobs = [dispatcher.claim_next(), dispatcher.claim_next()]
    [recorded_job] = [j for j in jobs if j is not None and j.message.channel == "sms"]
    sandbox.send(recorded_job.message)  # recorded; the worker dies before marking it sent

    world.notifier.clock.advance(timedelta(seconds=301))
    dispatcher.run_once(threading.Event())

    [settled] = world.reminders(recorded, kind="confirmation")
    [resent] = world.reminders(lost, kind="confirmation")
    assert (settled.status, settled.attempts) == ("sent", 1)
    assert (resent.status, resent.attempts) == ("sent", 2)
    assert len(world.notifier.rows(SandboxMessage)) == 2
    assert world.notifier.outbox("reminder.failed") == []


def test_fake_twilio_lists_by_recipient_and_date_sent_newest_first_in_pages(world: World) -> None:
    client = world.dispatcher.channels["sms"].client  # type: ignore[attr-defined]
    world.twilio.clock = world.notifier.clock.now
    for n in range(3):
        client.messages.create(to="+16175550123", from_=FROM_NUMBER, body=f"message {n}")
        world.notifier.clock.advance(timedelta(minutes=10))
    client.messages.create(to="+16175550999", from_=FROM_NUMBER, body="someone else")

    found = client.messages.list(to="+16175550123", page_size=2)
    assert [m.body for m in found] == ["message 2", "message 1", "message 0"]
    assert len(world.twilio.lists) == 2  # two pages, the second through next_page_uri
    recent = client.messages.list(to="+16175550123", date_sent_after=ny(4, 6, 12, 5), limit=10)
    assert [m.body for m in recent] == ["message 2", "message 1"]
    assert recent[0].date_sent == ny(4, 6, 12, 20)
    assert recent[0].from_ == FROM_NUMBER and recent[0].direction == "outbound-api"


def test_two_dispatchers_share_the_due_reminders_and_send_each_once(world: World) -> None:
    clients = [f"00000000-0000-4000-8000-{n:012d}" for n in range(8)]
    for n, client in enumerate(clients):
        world.notifier.client(client, phone=f"+1617555{n:04d}", email=f"c{n}@example.com")
        world.notifier.deliver(appointment("book", new_id(), 1, ny(4, 15, 9 + n), client_id=client))
    other = ReminderDispatcher(world.notifier.rt)

    threads = [
        threading.Thread(target=d.run_once, args=(threading.Event(),))
        for d in (world.dispatcher, other)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(r["To"] for r in world.twilio.sent()) == [f"+1617555{n:04d}" for n in range(8)]
    assert len(world.mailbox.received()) == 8
    sent = world.notifier.outbox("reminder.sent")
    assert len(sent) == 16 == len({e["reminder_id"] for e in sent})


def test_a_confirmation_written_at_night_waits_for_morning_in_the_clients_zone(
    world: World,
) -> None:
    world.notifier.clock.set(ny(4, 6, 23, 30))
    a = new_id()
    world.notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))

    world.run()
    world.notifier.clock.set(ny(4, 7, 7, 59))
    world.run()
    assert world.twilio.sent() == [] and world.mailbox.received() == []

    world.notifier.clock.set(ny(4, 7, 8, 0))
    world.run()
    assert len(world.twilio.sent()) == 1 and len(world.mailbox.received()) == 1


def test_the_due_backlog_and_lateness_are_measured(world: World) -> None:
    from prometheus_client import REGISTRY

    from services.notifier.dispatcher import due_backlog

    a = new_id()
    world.notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))
    world.notifier.clock.advance(timedelta(minutes=2))
    assert due_backlog(world.notifier.rt) == [("sms", 1, 120.0), ("email", 1, 120.0)]
    before = (
        REGISTRY.get_sample_value("rapport_reminder_lateness_seconds_count", {"channel": "sms"})
        or 0
    )
    late = (
        REGISTRY.get_sample_value(
            "rapport_reminder_lateness_seconds_bucket", {"channel": "sms", "le": "60.0"}
        )
        or 0
    )

    world.run()

    assert due_backlog(world.notifier.rt) == [("sms", 0, 0.0), ("email", 0, 0.0)]
    assert (
        REGISTRY.get_sample_value("rapport_reminder_lateness_seconds_count", {"channel": "sms"})
        == before + 1
    )
    # Two minutes late: counted above the 60-second bucket.
    assert (
        REGISTRY.get_sample_value(
            "rapport_reminder_lateness_seconds_bucket", {"channel": "sms", "le": "60.0"}
        )
        == late
    )


def test_a_client_who_withdraws_sms_consent_gets_no_further_sms(world: World) -> None:
    a = new_id()
    world.notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))
    world.run()
    world.notifier.client(revision=2, sms_consent=False)
    world.notifier.client(revision=1)  # an older snapshot arriving late changes nothing

    world.notifier.clock.set(ny(4, 14, 15))
    world.run()

    assert len(world.twilio.sent()) == 1  # the confirmation only
    [reminder] = world.reminders(a, kind="reminder", channel="sms")
    assert (reminder.status, reminder.note) == ("skipped", "client no longer allows sms")


def test_across_spring_forward_the_reminder_is_24_real_hours_before_and_says_edt(
    world: World,
) -> None:
    world.notifier.clock.set(ny(3, 1, 12))
    a = new_id()
    # Sunday 8 March 2026, 11:00 EDT: clocks sprang forward at 02:00 that morning.
    world.notifier.deliver(appointment("book", a, 1, ny(3, 8, 11)))
    world.run()  # confirmations
    world.notifier.clock.set(ny(3, 7, 9, 59))  # Saturday 09:59 EST
    world.run()
    assert len(world.twilio.sent()) == 1

    world.notifier.clock.set(ny(3, 7, 10, 0))  # Saturday 10:00 EST = 24 hours before
    world.run()

    reminder = world.twilio.sent()[-1]["Body"]
    assert "Sun, Mar 8 at 11:00 AM EDT" in reminder
    assert reminder.startswith("Harbour Street Therapy: reminder")


def test_on_postgresql_a_message_is_marked_in_one_statement_and_recorded_in_one_alone(
    world: World,
) -> None:
    """Marking a message sending is one statement inside its claim's transaction; recording it
    sent (both rows and reminder.sent's outbox row) is one statement with no transaction
    around it. What it leaves is what the three separate writes left: the rows, and an event
    whose facts are the reminder's."""
    a = new_id()
    world.notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))
    statements: list[str] = []
    alone: list[str] = []  # run with no transaction around them

    def seen(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(" ".join(statement.split()))
        if conn.connection.dbapi_connection.autocommit:
            alone.append(statements[-1])

    engine = world.notifier.rt.db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        world.run()
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    writes = [
        s
        for s in statements
        if not s.startswith(("SELECT", "BEGIN", "COMMIT")) and "sms_pacing" not in s
    ]
    marked = [w for w in writes if w.startswith("WITH marked AS (UPDATE reminder SET")]
    recorded = [w for w in writes if w.startswith("WITH sent AS (UPDATE reminder SET")]
    assert len(marked) == len(recorded) == 2 and len(writes) == 4, writes
    assert all("INSERT INTO message" in w for w in marked)
    assert all("UPDATE message" in w and "INSERT INTO outbox" in w for w in recorded)
    assert alone == recorded
    sent = world.reminders(a, status="sent")
    assert len(sent) == 2 and all(r.sent_at == world.notifier.clock.now() for r in sent)
    assert all(r.note is None and r.attempts == 1 for r in sent)
    log = {m.reminder_id: m for m in world.notifier.rows(Message, Message.appointment_id == a)}
    assert sorted((m.channel, m.status) for m in log.values()) == [
        ("email", "sent"),
        ("sms", "queued"),
    ]
    published = world.notifier.outbox("reminder.sent")
    assert sorted(published, key=lambda e: e["channel"]) == [
        {
            "reminder_id": r.id,
            "appointment_id": a,
            "client_id": r.client_id,
            "channel": r.channel,
            "kind": "confirmation",
            "message_id": log[r.id].id,
            "sent_at": world.notifier.clock.now().isoformat().replace("+00:00", "Z"),
        }
        for r in sorted(sent, key=lambda r: r.channel)
    ]


def test_a_round_of_two_messages_claims_at_most_five_times_whatever_its_threads(
    world: World,
) -> None:
    """Eight sending threads allowed, two messages due: the round's senders start one per
    message claimed (three at most), and the first claim that finds nothing ends the round, so
    each sender claims nothing more than once (it was eight empty claims, one a thread); stuck
    messages are looked for once, not again by a round at the same instant."""
    assert world.dispatcher.settings.send_concurrency == 8
    world.notifier.deliver(appointment("book", new_id(), 1, ny(4, 15, 15)))
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(" ".join(statement.split()))

    engine = world.notifier.rt.db.engine
    event.listen(engine, "before_cursor_execute", seen)
    rounds: list[list[str]] = []
    try:
        for _ in range(2):  # the second round has nothing due: one claim finds that out
            world.run()
            rounds.append(statements[:])
            statements.clear()
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    claims = [[s for s in r if "SKIP LOCKED" in s and "reminder.due_at <=" in s] for r in rounds]
    assert 3 <= len(claims[0]) <= 5 and len(claims[1]) == 1, rounds
    stuck = [[s for s in r if "reminder.sending_since <" in s] for r in rounds]
    assert [len(s) for s in stuck] == [1, 0]
    assert len(world.twilio.sent()) == 1 and len(world.mailbox.received()) == 1
