"""Check-ins on real PostgreSQL with the fake Twilio (through the real SDK) and a clock the test
places: a daily check-in at 19:00 in the client's zone across the spring DST change, answers
recorded against their question, the safety net once, PAUSE against STOP, who may read the
scores, and the chart."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from services.notifier import policy
from services.notifier.check_in_sender import CheckInSender
from services.notifier.dispatcher import ReminderDispatcher
from services.notifier.tables import AUDIT, CheckIn
from shared.auth import Principal, issue_token
from shared.contracts.check_ins import CheckInEnrolmentChanged, CheckInSettingsUpdated
from shared.web import create_service_app
from tests.fakes.notifier import (
    CLIENT,
    PRACTITIONER,
    Notifier,
    appointment,
    new_id,
    notifier_on_postgres,
)
from tests.fakes.twilio import FakeTwilio, FakeTwilioServer, signed

pytestmark = [pytest.mark.integration, pytest.mark.clock]
NEW_YORK = ZoneInfo("America/New_York")
PUBLIC = "https://rapport.example"
PHONE = "+16175550123"
QUESTION = "How has today been, from 0 (worst) to 10 (best)? Reply with a number."
SAFETY = "If you need someone to talk to right now, call or text 988, any time."


def ny(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """2027 in New York: clocks spring forward on 14 March."""
    return datetime(2027, month, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


@dataclass
class Practice:
    notifier: Notifier
    twilio: FakeTwilio
    http: FlaskClient
    check_ins: CheckInSender
    reminders: ReminderDispatcher

    def at(self, when: datetime) -> None:
        self.notifier.clock.set(when)
        self.reminders.run_once(threading.Event())
        self.check_ins.run_once(threading.Event())

    def texts(self) -> list[str]:
        return [m["Body"] for m in self.twilio.sent()]

    def reply(self, body: str, sid: str | None = None) -> Any:
        form = {
            "MessageSid": sid or "SM" + new_id().replace("-", ""),
            "From": PHONE,
            "To": "+16175550199",
            "Body": body,
        }
        path = "/webhooks/twilio/sms"
        response = self.http.post(path, data=form, headers=signed(PUBLIC + path, form))
        assert response.status_code == 200
        self.check_ins.run_once(threading.Event())  # the safety message goes at once
        return response

    def as_(self, role: str, practitioner_id: str | None = None) -> dict[str, str]:
        principal = Principal(new_id(), f"{role}@example.com", role, role, practitioner_id)
        token = issue_token(
            self.notifier.rt.settings.secret_key,
            principal,
            self.notifier.clock.now(),
            timedelta(hours=1),
        )
        return {"Authorization": f"Bearer {token}"}

    def get(self, path: str, role: str = "admin", practitioner_id: str | None = None) -> Any:
        return self.http.get(path, headers=self.as_(role, practitioner_id))

    def scores(self) -> list[int]:
        response = self.get(f"/api/v1/check-ins/clients/{CLIENT}/answers")
        assert response.status_code == 200
        return [item["score"] for item in response.json["items"]]

    def inbox(self) -> list[dict[str, Any]]:
        response = self.get("/api/v1/practitioner-inbox", "practitioner", PRACTITIONER)
        assert response.status_code == 200
        return list(response.json["items"])


def enrolment(**changes: Any) -> CheckInEnrolmentChanged:
    fields: dict[str, Any] = {
        "enrolment_id": "e0000000-0000-4000-8000-000000000001",
        "client_id": CLIENT,
        "practitioner_id": PRACTITIONER,
        "revision": 1,
        "active": True,
        "schedule": "daily",
        "local_time": time(19, 0),
        "until": "date",
        "until_date": date(2027, 6, 30),
        "question": QUESTION,
    }
    return CheckInEnrolmentChanged(**(fields | changes))


@pytest.fixture
def practice() -> Iterator[Practice]:
    twilio = FakeTwilioServer()
    env = twilio.env() | {"RAPPORT_PUBLIC_URL": PUBLIC, "NOTIFIER_SMS_PER_SECOND": "100"}
    with twilio as fake, notifier_on_postgres(ny(3, 13, 12), **env) as notifier:
        document = policy.PolicyDocument.model_validate(
            {"rules": [{"kind": "reminder", "channel": "sms", "offset": "PT24H"}]}
        )
        with notifier.rt.db.transaction() as session:
            policy.save(session, policy.PRACTICE, document, notifier.clock.now(), "admin")
        notifier.client(preferred_channels=["sms"])
        notifier.practitioner()
        notifier.deliver(
            CheckInSettingsUpdated(
                revision=1, threshold=3, crisis_words=["hopeless"], safety_message=SAFETY
            )
        )
        notifier.deliver(enrolment())
        app = create_service_app(notifier.rt).test_client()
        yield Practice(
            notifier, fake, app, CheckInSender(notifier.rt), ReminderDispatcher(notifier.rt)
        )


def test_a_daily_check_in_goes_at_19_00_local_on_both_sides_of_the_dst_change(
    practice: Practice,
) -> None:
    practice.at(ny(3, 13, 18, 59))
    assert practice.texts() == []

    practice.at(ny(3, 13, 19))
    assert len(practice.texts()) == 1
    assert practice.texts()[0].startswith(QUESTION)

    # After the clocks spring forward, 19:00 is an hour earlier in UTC; 18:59 is still early.
    practice.at(ny(3, 14, 18, 59))
    assert len(practice.texts()) == 1
    practice.at(ny(3, 14, 19))
    assert len(practice.texts()) == 2
    sent = practice.notifier.rows(CheckIn, CheckIn.status == "sent", order_by=CheckIn.due_at)
    assert [c.due_at.astimezone(NEW_YORK).time() for c in sent] == [time(19, 0)] * 2
    assert [c.due_at for c in sent] == [datetime(2027, 3, 14, 0, tzinfo=UTC), ny(3, 14, 19)]
    # Nothing in it names a diagnosis or a therapy.
    assert "therap" not in practice.texts()[0].lower()


def test_a_score_with_words_after_it_is_recorded_against_its_question(practice: Practice) -> None:
    practice.at(ny(3, 13, 19))
    practice.at(ny(3, 14, 9))  # a late reply, the next morning

    practice.reply("7 — better after Tuesday")

    assert practice.scores() == [7]
    [question] = practice.notifier.rows(
        CheckIn, CheckIn.kind == "question", CheckIn.status == "sent"
    )
    [answered] = practice.notifier.outbox("check_in.answer_recorded")
    assert answered["check_in_id"] == question.id
    # Neither the score nor the words travel.
    assert sorted(answered) == ["check_in_id", "client_id", "practitioner_id", "received_at"]
    assert "better" not in str(answered)
    desk = practice.get("/api/v1/inbox", "front_desk").json["items"]
    assert desk == [] and practice.inbox() == []
    assert practice.notifier.outbox("client.replied") == []


def test_anything_else_goes_to_the_practitioners_inbox_not_the_desks(practice: Practice) -> None:
    practice.at(ny(3, 13, 19))

    practice.reply("not sure how to answer that")

    assert practice.scores() == []
    [item] = practice.inbox()
    assert (item["kind"], item["body"]) == ("reply", "not sure how to answer that")
    assert practice.get("/api/v1/inbox", "front_desk").json["items"] == []
    # Another practitioner does not see it.
    other = practice.get("/api/v1/practitioner-inbox", "practitioner", new_id()).json["items"]
    assert other == []


def test_a_low_score_raises_one_urgent_item_and_sends_the_safety_message_once(
    practice: Practice,
) -> None:
    practice.at(ny(3, 13, 19))
    sid = "SM" + new_id().replace("-", "")

    practice.reply("2", sid)
    practice.reply("2", sid)  # Twilio redelivers the same webhook

    assert practice.scores() == [2]
    urgent = [i for i in practice.inbox() if i["urgent"]]
    assert len(urgent) == 1
    assert practice.texts().count(SAFETY) == 1
    assert practice.texts()[-1] == SAFETY


def test_crisis_words_raise_an_urgent_item_too(practice: Practice) -> None:
    practice.at(ny(3, 13, 19))

    practice.reply("6 but honestly feeling hopeless")

    assert practice.scores() == [6]
    assert [i["kind"] for i in practice.inbox()] == ["urgent"]
    assert practice.texts().count(SAFETY) == 1


def test_pause_stops_check_ins_but_not_reminders_and_resume_restarts_them(
    practice: Practice,
) -> None:
    practice.notifier.deliver(appointment("book", new_id(), 1, ny(3, 16, 10)))
    practice.at(ny(3, 13, 19))
    practice.reply("PAUSE")

    practice.at(ny(3, 14, 19))
    practice.at(ny(3, 15, 10))  # the reminder, 24 hours before the session

    texts = practice.texts()
    assert sum(t.startswith(QUESTION) for t in texts) == 1
    assert len(texts) == 2 and not texts[1].startswith(QUESTION)
    assert practice.get("/api/v1/inbox", "front_desk").json["items"] == []

    practice.reply("RESUME")
    practice.at(ny(3, 15, 19))
    assert sum(t.startswith(QUESTION) for t in practice.texts()) == 2


def test_stop_stops_check_ins_and_reminders(practice: Practice) -> None:
    practice.notifier.deliver(appointment("book", new_id(), 1, ny(3, 16, 10)))
    practice.reply("STOP")

    practice.at(ny(3, 13, 19))
    practice.at(ny(3, 15, 10))
    practice.at(ny(3, 15, 19))

    assert practice.texts() == []


def test_only_the_clients_practitioner_and_admins_read_scores_and_every_read_is_audited(
    practice: Practice,
) -> None:
    practice.at(ny(3, 13, 19))
    practice.reply("8")
    base = f"/api/v1/check-ins/clients/{CLIENT}"

    for path in ("/answers", "/answers.csv", "/chart", "/chart.svg"):
        assert practice.get(base + path, "front_desk").status_code == 403
        assert practice.get(base + path, "practitioner", new_id()).status_code == 403
    own = practice.get(base + "/answers", "practitioner", PRACTITIONER)
    assert own.status_code == 200 and own.json["items"][0]["score"] == 8
    assert practice.get("/api/v1/practitioner-inbox", "front_desk").status_code == 403

    with practice.notifier.rt.db.sessions() as session:
        reads = session.execute(select(AUDIT.table)).all()
    assert [(r.action, r.actor_role, r.entity_id) for r in reads] == [
        ("check_in_answers.read", "practitioner", CLIENT)
    ]


def test_an_unknown_client_is_not_found_and_nothing_is_audited(practice: Practice) -> None:
    for client_id in (new_id(), "x" * 200):
        for path in ("/answers", "/answers.csv", "/chart", "/chart.svg"):
            response = practice.get(f"/api/v1/check-ins/clients/{client_id}{path}")
            assert response.status_code == 404, (client_id, path)
            assert response.content_type == "application/problem+json"
    with practice.notifier.rt.db.sessions() as session:
        assert session.execute(select(AUDIT.table)).all() == []


def test_the_chart_shows_the_recorded_scores_and_the_sessions(practice: Practice) -> None:
    session_at = ny(3, 15, 10)
    practice.notifier.deliver(appointment("book", new_id(), 1, session_at))
    practice.at(ny(3, 13, 19))
    practice.reply("4")
    practice.at(ny(3, 14, 19))
    practice.reply("9 — good day")
    base = f"/api/v1/check-ins/clients/{CLIENT}"

    svg = practice.get(base + "/chart.svg").get_data(as_text=True)
    page = practice.get(base + "/chart").get_data(as_text=True)
    csv_text = practice.get(base + "/answers.csv").get_data(as_text=True)

    assert svg.count('class="score"') == 2
    assert 'data-score="4"' in svg and 'data-score="9"' in svg
    assert f'data-at="{session_at.isoformat()}"' in svg
    # Lower score, lower on the chart (larger y).
    y4 = float(svg.split('data-score="4"')[1].split('cy="')[1].split('"')[0])
    y9 = float(svg.split('data-score="9"')[1].split('cy="')[1].split('"')[0])
    assert y4 > y9
    assert "<table>" in page and "<td>4</td>" in page and "<td>9</td>" in page
    assert "<script" not in page
    assert csv_text.splitlines()[1:] == [
        f"{ny(3, 13, 19).isoformat()},2027-03-13 19:00 EST,4,no",
        f"{ny(3, 14, 19).isoformat()},2027-03-14 19:00 EDT,9,no",
    ]


def test_a_client_who_moves_zone_gets_the_check_in_at_19_00_in_the_new_one(
    practice: Practice,
) -> None:
    practice.notifier.client(revision=2, preferred_channels=["sms"], time_zone="America/Chicago")

    practice.at(ny(3, 13, 19))
    assert practice.texts() == []
    practice.at(ny(3, 13, 20))  # 19:00 in Chicago

    assert len(practice.texts()) == 1


def test_an_enrolment_that_arrives_before_its_client_is_planned_when_the_client_does(
    practice: Practice,
) -> None:
    other = "55555555-5555-4555-8555-555555555555"
    practice.notifier.deliver(enrolment(client_id=other, enrolment_id=new_id()))
    assert practice.notifier.rows(CheckIn, CheckIn.client_id == other) == []

    practice.notifier.client(other, phone="+16175550777", preferred_channels=["sms"])

    [planned] = practice.notifier.rows(CheckIn, CheckIn.client_id == other)
    assert (planned.status, planned.due_at) == ("planned", ny(3, 13, 19))


def test_check_ins_have_a_daily_cap_of_their_own_apart_from_reminders(
    practice: Practice,
) -> None:
    practice.notifier.deliver(appointment("book", new_id(), 1, ny(3, 14, 19, 30)))
    practice.at(ny(3, 13, 19))  # the check-in
    practice.at(ny(3, 13, 19, 30))  # the reminder: the reminders' cap is not the check-ins'
    assert len(practice.texts()) == 2

    # Moved later the same evening (21:30 is in quiet hours: 20:59): over the day's one.
    practice.notifier.deliver(enrolment(revision=2, local_time=time(21, 30)))
    practice.at(ny(3, 13, 20, 59))
    assert len(practice.texts()) == 2
    [skipped] = practice.notifier.rows(CheckIn, CheckIn.status == "skipped")
    assert skipped.note == "over the client's daily check-in cap"

    practice.at(ny(3, 14, 20, 59))
    assert len(practice.texts()) == 3
