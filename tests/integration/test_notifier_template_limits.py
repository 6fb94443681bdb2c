"""Bounded templates on real PostgreSQL: the API refuses a template that could exhaust the
notifier with a problem document and keeps the stored one; a stored template that fails at send
time (saved before the limits) goes out in the default wording, counted, and the queue goes on."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from services.notifier import metrics
from services.notifier.dispatcher import ReminderDispatcher
from services.notifier.tables import Reminder, TemplateRecord
from shared.web import create_service_app
from tests.fakes.notifier import Notifier, appointment, bearer, new_id, notifier_on_postgres
from tests.fakes.twilio import FakeTwilio, FakeTwilioServer

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = [pytest.mark.integration, pytest.mark.clock]
NEW_YORK = ZoneInfo("America/New_York")
PATH = "/api/v1/notifier/templates/confirmation/email"
KEPT = {"text": "See you {{ date }}, {{ first_name }}.", "subject": "See you {{ date }}"}
EXHAUSTING = {
    "huge-range": "{% for i in range(10**9) %}x{% endfor %}",
    "string-times-huge": "{{ 'x' * 100000000 }}",
    "deep-nesting": "{{ " + "(" * 100 + "1" + ")" * 100 + " }}",
    "huge-output": "{% for a in range(100) %}{% for b in range(40) %}{{ 'x' * 1000 }}"
    "{% endfor %}{% endfor %}",
    "recursive-macro": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
}


def ny(month: int, day: int, hour: int) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=NEW_YORK).astimezone(UTC)


@pytest.fixture
def notifier() -> Iterator[Notifier]:
    with notifier_on_postgres(ny(4, 6, 12)) as notifier:
        notifier.client()
        notifier.practitioner()
        yield notifier


def _stored(http: FlaskClient, notifier: Notifier) -> dict[str, object]:
    listed = http.get("/api/v1/notifier/templates", headers=bearer(notifier.rt)).json["items"]
    [found] = [t for t in listed if (t["kind"], t["channel"]) == ("confirmation", "email")]
    return found


@pytest.mark.parametrize("text", EXHAUSTING.values(), ids=list(EXHAUSTING))
def test_the_api_refuses_an_exhausting_template_and_keeps_the_stored_one(
    notifier: Notifier, text: str
) -> None:
    http = create_service_app(notifier.rt).test_client()
    admin = bearer(notifier.rt, "admin")
    assert http.put(PATH, json=KEPT, headers=admin).status_code == 200
    before = _stored(http, notifier)

    for part in ("text", "subject"):
        refused = http.put(PATH, json=KEPT | {part: text}, headers=admin)
        assert refused.status_code == 422
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert refused.json["title"] == "Template refused"
        assert "limit" in refused.json["detail"]

    assert _stored(http, notifier) == before
    assert before["edited"] is True and before["text"] == KEPT["text"]


def test_a_failing_stored_template_goes_out_in_the_default_wording(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "{{ 'do-not-log-me' * 100000000 }}"
    fallbacks = metrics.TEMPLATE_FALLBACKS.labels("sms", "confirmation")
    counted = fallbacks._value.get()
    twilio = FakeTwilioServer()
    with twilio as fake, notifier_on_postgres(ny(4, 6, 12), **twilio.env()) as notifier:
        notifier.client()
        notifier.practitioner()
        with notifier.rt.db.transaction() as session:  # as one saved before the limits
            session.add(
                TemplateRecord(
                    kind="confirmation", channel="sms", text=secret, updated_at=ny(4, 6, 12)
                )
            )
        with caplog.at_level(logging.INFO):
            notifier.deliver(appointment("book", new_id(), 1, ny(4, 15, 15)))
            notifier.deliver(appointment("book", new_id(), 1, ny(4, 16, 15)))
            ReminderDispatcher(notifier.rt).run_once(threading.Event())
        sent = _sms_bodies(fake)
        confirmations = notifier.rows(Reminder, Reminder.kind == "confirmation")

    assert len(sent) == 2  # both bookings confirmed: the bad template blocked nothing
    assert all("Reply C to confirm" in body for body in sent)
    assert fallbacks._value.get() == counted + 2
    assert {(r.channel, r.status) for r in confirmations} == {("sms", "sent"), ("email", "sent")}
    assert "do-not-log-me" not in caplog.text
    assert "edited template failed" in caplog.text


def _sms_bodies(fake: FakeTwilio) -> list[str]:
    return [m["Body"] for m in fake.sent()]
