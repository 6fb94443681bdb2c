"""The scheduler's worker on the real RabbitMQ: a client's SMS reply to confirm, published by
the notifier, confirms the session and the scheduler publishes appointment.confirmed; a
delivered reminder shows at the desk; a redelivered event changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.scheduler.tables import Appointment
from shared.contracts import Contract
from shared.contracts.notifications import ClientReplied, ReminderSent
from shared.demo import demo_id
from shared.envelope import new_envelope
from tests.integration.test_scheduler_support import (
    SchedulerSystem,
    outbox_events,
    scheduler_only,
)
from tests.support import days_ahead, now, publish_events, wait_until

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock


@pytest.fixture
def sched(system_env: dict[str, str]) -> Iterator[SchedulerSystem]:
    with scheduler_only(system_env) as s:
        s.start("scheduler")
        wait_until(lambda: s.backlog("scheduler") == 0, message="the demo events published")
        yield s


def publish(s: SchedulerSystem, event: Contract, body: str | None = None) -> str:
    """Publish as the notifier would; returns the envelope JSON (to publish it again)."""
    if body is None:
        body = new_envelope(
            event.TYPE,
            event.VERSION,
            event.payload(),
            source="notifier",
            occurred_at=now(),
        ).to_json()
    publish_events(s.env["RAPPORT_BROKER_URL"], (event.TYPE, body.encode()))
    return body


def test_a_reply_over_the_broker_confirms_and_is_published(sched: SchedulerSystem) -> None:
    starts_at = days_ahead(3, hour=10)
    booked = sched.call(
        "scheduler",
        "POST",
        "/api/v1/appointments",
        json={
            "client_id": demo_id("client-jordan"),
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": starts_at.isoformat(),
        },
    )
    assert booked.status_code == 201
    aid = booked.json["id"]
    reply = ClientReplied(
        client_id=demo_id("client-jordan"),
        intent="confirm",
        message_id="SM-broker-1",
        received_at=now(),
    )
    body = publish(sched, reply)
    wait_until(
        lambda: (
            sched.rows("scheduler", Appointment, Appointment.id == aid)[0].status == "confirmed"
        ),
        message="the session confirmed",
    )
    wait_until(lambda: sched.backlog("scheduler") == 0, message="appointment.confirmed published")
    assert [e["sequence"] for e in outbox_events(sched, "appointment.confirmed")] == [2]

    sent = ReminderSent(
        reminder_id="r-1",
        appointment_id=aid,
        client_id=demo_id("client-jordan"),
        channel="sms",
        kind="24h",
        message_id="SM-r-1",
        sent_at=now(),
    )
    publish(sched, sent)
    publish(sched, reply, body=body)  # the same reply delivered again
    wait_until(
        lambda: (
            sched.call("scheduler", "GET", f"/api/v1/appointments/{aid}").json["reminder_status"]
            == "sent"
        ),
        message="the reminder shown as sent",
    )
    row = sched.rows("scheduler", Appointment, Appointment.id == aid)[0]
    assert (row.status, row.sequence) == ("confirmed", 2)
    assert len(outbox_events(sched, "appointment.confirmed")) == 1
