"""A reply confirms what it answers, on real PostgreSQL with the fake Twilio (through the real
twilio SDK): the latest SMS that asked for a confirmation and is still open, else the next
session; ambiguity to the desk; and the answer names the session confirmed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from services.notifier import policy
from services.notifier.dispatcher import ReminderDispatcher
from services.notifier.tables import InboundMessage, Message
from shared.web import create_service_app
from tests.fakes.notifier import Notifier, appointment, bearer, new_id, notifier_on_postgres
from tests.fakes.twilio import FakeTwilio, FakeTwilioServer, signed

pytestmark = pytest.mark.integration
NEW_YORK = ZoneInfo("America/New_York")
PUBLIC = "https://rapport.example"
PHONE = "+16175550123"
OTHER_CLIENT = "44444444-4444-4444-8444-444444444444"


def ny(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


@dataclass
class Phone:
    notifier: Notifier
    twilio: FakeTwilio
    http: FlaskClient
    dispatcher: ReminderDispatcher

    def at(self, when: datetime) -> None:
        self.notifier.clock.advance(when - self.notifier.clock.now())
        self.dispatcher.run_once(threading.Event())

    def reply(self, body: str) -> Any:
        form = {
            "MessageSid": "SM" + new_id().replace("-", ""),
            "From": PHONE,
            "To": "+16175550199",
            "Body": body,
        }
        path = "/webhooks/twilio/sms"
        return self.http.post(path, data=form, headers=signed(PUBLIC + path, form))

    def confirmed(self) -> list[str | None]:
        return [e["appointment_id"] for e in self.notifier.outbox("client.replied")]

    def inbox(self) -> list[dict[str, Any]]:
        return list(self.http.get("/api/v1/inbox", headers=bearer(self.notifier.rt)).json["items"])


@pytest.fixture
def phone() -> Iterator[Phone]:
    twilio = FakeTwilioServer()
    env = twilio.env() | {"RAPPORT_PUBLIC_URL": PUBLIC, "NOTIFIER_SMS_PER_SECOND": "100"}
    with twilio as fake, notifier_on_postgres(ny(4, 6, 12), **env) as notifier:
        # SMS only: a reminder a day before each session, up to three a day.
        document = policy.PolicyDocument.model_validate(
            {
                "rules": [{"kind": "reminder", "channel": "sms", "offset": "PT24H"}],
                "sms_caps": {"per_day": 3, "per_week": 10},
            }
        )
        with notifier.rt.db.transaction() as session:
            policy.save(session, policy.PRACTICE, document, notifier.clock.now(), "admin")
        notifier.client(preferred_channels=["sms"])
        notifier.practitioner()
        app = create_service_app(notifier.rt).test_client()
        yield Phone(notifier, fake, app, ReminderDispatcher(notifier.rt))


def test_a_reply_to_the_later_sessions_reminder_confirms_that_session(phone: Phone) -> None:
    earlier, later = new_id(), new_id()
    phone.notifier.deliver(appointment("book", earlier, 1, ny(4, 10, 10)))
    phone.notifier.deliver(appointment("book", later, 1, ny(4, 10, 15)))
    phone.at(ny(4, 9, 10))  # the earlier session's reminder
    phone.at(ny(4, 9, 15))  # then the later one's: the latest question on this number
    assert len(phone.twilio.sent()) == 2

    phone.at(ny(4, 9, 15, 5))
    assert phone.reply("C").status_code == 200

    # Not the client's next session (the earlier one, still unconfirmed): the one it answered.
    assert phone.confirmed() == [later]
    phone.at(ny(4, 9, 15, 6))
    answer = phone.twilio.sent()[-1]["Body"]
    assert "is confirmed" in answer
    assert "Fri, Apr 10 at 3:00 PM EDT" in answer
    assert phone.inbox() == []

    # The next C answers the question still open: the earlier session's reminder.
    phone.reply("yes")
    assert phone.confirmed() == [later, earlier]
    answered = phone.notifier.rows(Message, Message.answered_at.is_not(None))
    assert sorted(m.appointment_id for m in answered) == sorted([earlier, later])
    # With nothing open, a C falls back to the next session, as before.
    phone.reply("C")
    assert phone.confirmed() == [later, earlier, earlier]


def test_a_question_about_a_session_that_has_started_is_no_longer_open(phone: Phone) -> None:
    first, second = new_id(), new_id()
    phone.notifier.deliver(appointment("book", first, 1, ny(4, 8, 10)))
    phone.notifier.deliver(appointment("book", second, 1, ny(4, 15, 10)))
    phone.at(ny(4, 7, 10))  # the first session's reminder asks

    phone.at(ny(4, 8, 11))  # ... and the session has begun
    phone.reply("C")

    assert phone.confirmed() == [second]


def test_two_questions_sent_at_once_are_ambiguous_and_go_to_the_desk(phone: Phone) -> None:
    a, b = new_id(), new_id()
    phone.notifier.deliver(appointment("book", a, 1, ny(4, 10, 10)))
    phone.notifier.deliver(appointment("book", b, 1, ny(4, 10, 10, 0) + timedelta(hours=5)))
    # Both reminders due by now: the dispatcher sends them in the same round.
    phone.at(ny(4, 9, 16))
    assert len(phone.twilio.sent()) == 2

    phone.reply("C")

    assert phone.confirmed() == []
    [item] = phone.inbox()
    assert item["intent"] == "confirm"
    assert phone.notifier.rows(Message, Message.answered_at.is_not(None)) == []


def test_two_clients_on_one_number_with_nothing_open_go_to_the_desk(phone: Phone) -> None:
    phone.notifier.client(OTHER_CLIENT, first_name="Sam", preferred_channels=["sms"])
    phone.notifier.deliver(appointment("book", new_id(), 1, ny(4, 20, 10)))
    phone.notifier.deliver(appointment("book", new_id(), 1, ny(4, 21, 10), client_id=OTHER_CLIENT))

    phone.reply("C")

    assert phone.confirmed() == []
    [item] = phone.inbox()
    assert (item["intent"], item["client_id"]) == ("confirm", None)
    assert len(phone.notifier.rows(InboundMessage)) == 1


def test_the_sms_carries_the_join_link_when_the_practice_chooses(phone: Phone) -> None:
    with phone.notifier.rt.db.transaction() as session:
        document = policy.document_for(session, policy.PRACTICE)
        assert document is not None
        chosen = document.model_copy(update={"sms_join_link": True})
        policy.save(session, policy.PRACTICE, chosen, phone.notifier.clock.now(), "admin")
    link = "https://meet.example.com/r/jordan-7f3k"
    a = new_id()
    phone.notifier.deliver(appointment("book", a, 1, ny(4, 10, 10), video_url=link))

    phone.at(ny(4, 9, 10))

    [sms] = phone.twilio.sent()
    assert sms["Body"].endswith(f"Join: {link}")
