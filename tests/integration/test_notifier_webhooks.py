"""Twilio's webhooks and the desk's view of messages, on real PostgreSQL: signed replies and
status callbacks, opt-outs, the desk inbox, the message log and templates."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from services.notifier.dispatcher import ReminderDispatcher
from services.notifier.tables import ClientContact, InboundMessage, Message, Reminder
from shared.web import create_service_app
from tests.fakes.notifier import Notifier, appointment, bearer, new_id, notifier_on_postgres
from tests.fakes.twilio import FakeTwilio, FakeTwilioServer, signed

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = [pytest.mark.integration, pytest.mark.clock]
NEW_YORK = ZoneInfo("America/New_York")
PUBLIC = "https://rapport.example"
PHONE = "+16175550123"


def ny(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


@dataclass
class Desk:
    notifier: Notifier
    twilio: FakeTwilio
    http: FlaskClient
    appointment_id: str

    def webhook(
        self, path: str, form: dict[str, str], headers: dict[str, str] | None = None
    ) -> Any:
        if headers is None:
            headers = signed(PUBLIC + path, form)
        return self.http.post(path, data=form, headers=headers)

    def reply(self, body: str, sid: str | None = None) -> Any:
        form = {
            "MessageSid": sid or "SM" + new_id().replace("-", ""),
            "From": PHONE,
            "To": "+16175550199",
            "Body": body,
        }
        return self.webhook("/webhooks/twilio/sms", form)

    def get(self, path: str, role: str = "front_desk", **kw: Any) -> Any:
        return self.http.get(path, headers=bearer(self.notifier.rt, role), **kw)


@pytest.fixture
def desk() -> Iterator[Desk]:
    twilio = FakeTwilioServer()
    env = twilio.env() | {"RAPPORT_PUBLIC_URL": PUBLIC, "NOTIFIER_SMS_PER_SECOND": "100"}
    with twilio as fake, notifier_on_postgres(ny(4, 6, 12), **env) as notifier:
        notifier.client()
        notifier.practitioner()
        a = new_id()
        notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))
        yield Desk(notifier, fake, create_service_app(notifier.rt).test_client(), a)


def test_reply_c_publishes_a_confirmation_without_the_text(desk: Desk) -> None:
    response = desk.reply(" c ")

    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    [replied] = desk.notifier.outbox("client.replied")
    assert (replied["intent"], replied["appointment_id"]) == ("confirm", desk.appointment_id)
    assert "c" not in {str(v).strip().lower() for v in replied.values()}
    assert "body" not in replied
    assert desk.get("/api/v1/inbox").json["items"] == []


def test_twilio_retrying_the_same_webhook_changes_nothing_more(desk: Desk) -> None:
    desk.reply("Y", sid="SMsame")
    desk.reply("Y", sid="SMsame")

    assert len(desk.notifier.outbox("client.replied")) == 1
    assert len(desk.notifier.rows(InboundMessage)) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Twilio-Signature": "not-a-signature"},
        signed(PUBLIC + "/webhooks/twilio/sms", {"Body": "C"}, "wrong-token"),
    ],
    ids=["missing", "garbage", "other-token"],
)
def test_an_unsigned_or_badly_signed_webhook_is_refused_and_changes_nothing(
    desk: Desk, headers: dict[str, str]
) -> None:
    form = {"MessageSid": "SMx", "From": PHONE, "Body": "C"}
    response = desk.webhook("/webhooks/twilio/sms", form, headers)

    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/problem+json"
    assert desk.notifier.outbox("client.replied") == []
    assert desk.notifier.rows(InboundMessage) == []


def test_a_signature_for_another_address_is_refused(desk: Desk) -> None:
    form = {"MessageSid": "SMx", "From": PHONE, "Body": "C"}
    wrong_url = signed("https://elsewhere.example/webhooks/twilio/sms", form)

    assert desk.webhook("/webhooks/twilio/sms", form, wrong_url).status_code == 403


def test_r_asks_the_desk_to_call_back_and_the_desk_marks_it_handled(desk: Desk) -> None:
    desk.reply("R")
    desk.reply("Can we make it Thursday instead?")

    [call_back, other] = sorted(desk.notifier.outbox("client.replied"), key=lambda e: e["intent"])
    assert (call_back["intent"], other["intent"]) == ("call_back", "other")
    inbox = desk.get("/api/v1/inbox").json["items"]
    assert sorted(i["intent"] for i in inbox) == ["call_back", "other"]
    assert {i["appointment_id"] for i in inbox} == {desk.appointment_id}

    handled = desk.http.post(
        f"/api/v1/inbox/{inbox[0]['id']}/handled", headers=bearer(desk.notifier.rt)
    )
    assert handled.status_code == 200
    assert handled.json["handled_by"] == "front_desk@example.com"
    assert len(desk.get("/api/v1/inbox").json["items"]) == 1
    assert len(desk.get("/api/v1/inbox", query_string={"handled": "true"}).json["items"]) == 1


def test_a_reply_from_an_unknown_number_goes_to_the_desk_and_publishes_nothing(desk: Desk) -> None:
    form = {"MessageSid": "SMunknown", "From": "+15555550100", "Body": "C"}
    assert desk.webhook("/webhooks/twilio/sms", form).status_code == 200

    [item] = desk.get("/api/v1/inbox").json["items"]
    assert (item["from"], item["client_id"], item["intent"]) == ("+15555550100", None, "confirm")
    assert desk.notifier.outbox("client.replied") == []


def test_stop_opts_out_no_sms_is_attempted_and_start_reverses_it(desk: Desk) -> None:
    desk.reply("STOP")

    [opted] = desk.notifier.outbox("client.opted_out")
    assert (opted["channel"], opted["opted_out"]) == ("sms", True)
    assert desk.notifier.outbox("client.replied") == []
    ReminderDispatcher(desk.notifier.rt).run_once(threading.Event())
    assert desk.twilio.sent() == []  # the SMS confirmation is skipped; email was not configured
    [sms] = [
        r for r in desk.notifier.rows(Reminder) if r.channel == "sms" and r.kind == "confirmation"
    ]
    assert (sms.status, sms.note) == ("skipped", "client no longer allows sms")

    desk.reply("start")
    [contact] = desk.notifier.rows(ClientContact)
    assert contact.sms_opted_out is False
    assert [e["opted_out"] for e in desk.notifier.outbox("client.opted_out")] == [True, False]


def test_status_callbacks_update_the_message_and_publish_delivery(desk: Desk) -> None:
    ReminderDispatcher(desk.notifier.rt).run_once(threading.Event())
    [sms] = [m for m in desk.notifier.rows(Message) if m.channel == "sms"]
    assert sms.status == "queued"

    def status(value: str, **extra: str) -> int:
        form = {"MessageSid": str(sms.provider_id), "MessageStatus": value, **extra}
        return desk.webhook("/webhooks/twilio/status", form).status_code

    assert status("sent") == 204
    assert status("delivered") == 204
    assert status("sent") == 204  # late, older news: ignored
    log = desk.get("/api/v1/messages", query_string={"appointment_id": desk.appointment_id}).json
    assert [(m["channel"], m["status"]) for m in log["items"] if m["channel"] == "sms"] == [
        ("sms", "delivered")
    ]
    [delivered] = desk.notifier.outbox("message.delivered")
    assert (delivered["message_id"], delivered["reminder_id"]) == (sms.id, sms.reminder_id)


def test_an_undelivered_message_is_published_with_its_error_code(desk: Desk) -> None:
    ReminderDispatcher(desk.notifier.rt).run_once(threading.Event())
    [sms] = [m for m in desk.notifier.rows(Message) if m.channel == "sms"]
    form = {
        "MessageSid": str(sms.provider_id),
        "MessageStatus": "undelivered",
        "ErrorCode": "30005",
    }

    assert desk.webhook("/webhooks/twilio/status", form).status_code == 204

    [failed] = desk.notifier.outbox("message.failed")
    assert (failed["status"], failed["error_code"]) == ("undelivered", "30005")
    by_client = desk.get("/api/v1/messages", query_string={"client_id": sms.client_id}).json[
        "items"
    ]
    assert any(m["status"] == "undelivered" for m in by_client)


def test_sandbox_replies_are_refused_where_twilio_is_configured(desk: Desk) -> None:
    response = desk.http.post(
        "/api/v1/sandbox/replies",
        json={"from": PHONE, "body": "C"},
        headers=bearer(desk.notifier.rt),
    )
    assert response.status_code == 409
    assert desk.notifier.outbox("client.replied") == []


def test_templates_can_be_edited_by_an_admin_but_never_to_suggest_cancel(desk: Desk) -> None:
    path = "/api/v1/notifier/templates/reminder/sms"
    edit = {"text": "{{ practice_name }}: see you {{ date }} at {{ time }}. Reply C to confirm."}
    assert desk.http.put(path, json=edit, headers=bearer(desk.notifier.rt)).status_code == 403
    refused = desk.http.put(
        path, json={"text": "Reply CANCEL to cancel"}, headers=bearer(desk.notifier.rt, "admin")
    )
    assert refused.status_code == 422
    assert "CANCEL" in refused.json["detail"]
    assert (
        desk.http.put(path, json=edit, headers=bearer(desk.notifier.rt, "admin")).status_code == 200
    )

    listed = desk.get("/api/v1/notifier/templates").json["items"]
    [reminder_sms] = [t for t in listed if (t["kind"], t["channel"]) == ("reminder", "sms")]
    assert (reminder_sms["edited"], reminder_sms["text"]) == (True, edit["text"])
    desk.notifier.clock.set(ny(4, 14, 15))
    ReminderDispatcher(desk.notifier.rt).run_once(threading.Event())
    # Messages due together go out concurrently, so find the reminder by what it says: the
    # edited wording, once (the confirmation keeps its default wording).
    edited = [m["Body"] for m in desk.twilio.sent() if "see you" in m["Body"]]
    assert edited == [
        "Harbour Street Therapy: see you Wednesday, April 15, 2026 at 3:00 PM EDT. "
        "Reply C to confirm."
    ]


def test_the_template_api_reports_what_an_sms_costs_and_refuses_more_than_three_segments(
    desk: Desk,
) -> None:
    admin = bearer(desk.notifier.rt, "admin")
    listed = desk.get("/api/v1/notifier/templates").json["items"]
    sms_defaults = [t for t in listed if t["channel"] == "sms"]
    assert {(t["sample"]["encoding"], t["sample"]["segments"]) for t in sms_defaults} == {
        ("GSM-7", 1)
    }
    assert all(t["sample"]["characters"] <= 160 for t in sms_defaults)

    path = "/api/v1/notifier/templates/reminder/sms"
    emoji = {"text": "{{ practice_name }}: see you {{ short_date }} at {{ time }} 🙂"}
    answer = desk.http.put(path, json=emoji, headers=admin)
    assert answer.status_code == 200
    assert (answer.json["sample"]["encoding"], answer.json["sample"]["segments"]) == ("UCS-2", 1)
    assert "Wed, Sep 30 at 3:00 PM EDT" in answer.json["sample"]["text"]

    long = {"text": "{{ practice_name }}: " + "Please bring your forms and arrive early. " * 12}
    refused = desk.http.put(path, json=long, headers=admin)
    assert refused.status_code == 422
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert "4 segments" in refused.json["detail"]
    [kept] = [
        t
        for t in desk.get("/api/v1/notifier/templates").json["items"]
        if t["kind"] == "reminder" and t["channel"] == "sms"
    ]
    assert kept["text"] == emoji["text"]  # the refused edit changed nothing


def test_the_sandbox_records_what_would_have_been_sent() -> None:
    with notifier_on_postgres(ny(4, 6, 12)) as notifier:
        notifier.client()
        notifier.practitioner()
        notifier.deliver(appointment("book", new_id(), 1, ny(4, 15, 15)))
        ReminderDispatcher(notifier.rt).run_once(threading.Event())
        http = create_service_app(notifier.rt).test_client()

        items = http.get("/api/v1/sandbox", headers=bearer(notifier.rt)).json["items"]
        reply = http.post(
            "/api/v1/sandbox/replies",
            json={"from": PHONE, "body": "C"},
            headers=bearer(notifier.rt),
        )
        assert (reply.status_code, reply.json["intent"]) == (201, "confirm")
        assert [e["intent"] for e in notifier.outbox("client.replied")] == ["confirm"]

    assert sorted((m["channel"], m["to"], m["calendar_attached"]) for m in items) == [
        ("email", "jordan@example.com", True),
        ("sms", PHONE, False),
    ]
    assert all("Dr. Ana Rivera" in m["body"] for m in items)
    # The desk sees the invite that would have been sent.
    [email] = [m for m in items if m["channel"] == "email"]
    assert "METHOD:REQUEST" in email["calendar"]
    assert "ATTENDEE;" in email["calendar"] and "ORGANIZER;" in email["calendar"]


def test_an_undelivered_reminder_sms_is_followed_by_an_email(desk: Desk) -> None:
    dispatcher = ReminderDispatcher(desk.notifier.rt)
    dispatcher.run_once(threading.Event())
    desk.notifier.clock.set(ny(4, 13, 15))
    dispatcher.run_once(threading.Event())  # the 48h email
    desk.notifier.clock.set(ny(4, 14, 15))
    dispatcher.run_once(threading.Event())  # the 24h SMS
    [reminder] = desk.notifier.rows(
        Reminder, Reminder.kind == "reminder", Reminder.channel == "sms"
    )
    [sms] = desk.notifier.rows(Message, Message.reminder_id == reminder.id)
    form = {
        "MessageSid": str(sms.provider_id),
        "MessageStatus": "undelivered",
        "ErrorCode": "30006",
    }

    desk.webhook("/webhooks/twilio/status", form)
    desk.webhook("/webhooks/twilio/status", form)  # Twilio retried the callback
    dispatcher.run_once(threading.Event())

    [reminder] = desk.notifier.rows(Reminder, Reminder.id == reminder.id)
    assert (reminder.status, reminder.note) == ("undelivered", "carrier error 30006")
    [fallback] = desk.notifier.rows(Reminder, Reminder.fallback_of == reminder.id)
    assert (fallback.channel, fallback.kind, fallback.status) == ("email", "reminder", "sent")
    assert len(desk.notifier.outbox("message.failed")) == 1
