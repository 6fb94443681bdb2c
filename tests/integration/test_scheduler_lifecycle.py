"""An appointment's lifecycle over HTTP on real PostgreSQL, and the events from the notifier
and billing that the scheduler shows at the desk (applied through its handlers and inbox)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.scheduler.tables import Appointment
from shared.clock import FrozenClock
from shared.contracts.billing import InvoiceIssued, InvoicePaid, InvoiceVoided
from shared.contracts.notifications import (
    ClientReplied,
    MessageDelivered,
    ReminderFailed,
    ReminderSent,
)
from shared.demo import demo_id
from tests.integration.test_scheduler_support import (
    SchedulerSystem,
    audit_entries,
    outbox_events,
    scheduler_only,
)
from tests.support import days_ahead, now

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock

# The frozen "now" of these tests: the application clock's (RAPPORT_TEST_NOW places it).
NOW = now().replace(second=0, microsecond=0)


@pytest.fixture
def sched(system_env: dict[str, str]) -> Iterator[SchedulerSystem]:
    with scheduler_only(system_env) as s:
        rt = s.runtimes["scheduler"]
        rt.clock = rt.emitter.clock = FrozenClock(NOW)
        yield s


class MovableClock:
    """The scheduler's frozen clock; moving it signs the test in again, as tokens expire by
    the application clock."""

    def __init__(self, s: SchedulerSystem) -> None:
        self.s = s
        self.frozen = s.runtimes["scheduler"].clock
        assert isinstance(self.frozen, FrozenClock)

    def set(self, at: datetime) -> None:
        self.frozen.set(at)
        self.s.sign_out()


def clock(s: SchedulerSystem) -> MovableClock:
    return MovableClock(s)


def book(s: SchedulerSystem, starts_at: datetime, client: str = "client-jordan") -> dict[str, Any]:
    response = s.call(
        "scheduler",
        "POST",
        "/api/v1/appointments",
        json={
            "client_id": demo_id(client),
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": starts_at.isoformat(),
        },
    )
    assert response.status_code == 201, response.json
    return dict(response.json)


def act(s: SchedulerSystem, appointment_id: str, action: str, **body: Any) -> Any:
    kw: dict[str, Any] = {"json": body} if body else {}
    return s.call("scheduler", "POST", f"/api/v1/appointments/{appointment_id}/{action}", **kw)


def test_confirm_check_in_complete_raise_the_sequence_and_emit_events(
    sched: SchedulerSystem,
) -> None:
    # A practice-zone afternoon: check-in opens on the session's own day there, an hour before.
    starts_at = days_ahead(2, hour=15)
    appointment = book(sched, starts_at)
    aid = appointment["id"]
    assert act(sched, aid, "confirm").json["sequence"] == 2
    clock(sched).set(starts_at - timedelta(minutes=10))
    checked_in = act(sched, aid, "check-in")
    assert (checked_in.json["status"], checked_in.json["sequence"]) == ("checked_in", 3)
    early = act(sched, aid, "complete")
    assert early.status_code == 409
    assert "once it has started" in early.json["detail"]
    clock(sched).set(starts_at + timedelta(minutes=50))
    done = act(sched, aid, "complete")
    assert (done.json["status"], done.json["sequence"]) == ("completed", 4)
    for event_type, sequence in [
        ("appointment.booked", 1),
        ("appointment.confirmed", 2),
        ("appointment.checked_in", 3),
        ("appointment.completed", 4),
    ]:
        assert [e["sequence"] for e in outbox_events(sched, event_type)] == [sequence], event_type
    actions = [e["action"] for e in audit_entries(sched, entity="appointment", entity_id=aid)]
    assert actions == [
        "appointment.completed",
        "appointment.checked_in",
        "appointment.confirmed",
        "appointment.booked",
    ]
    again = act(sched, aid, "cancel", cancelled_by="client", reason="Changed my mind")
    assert again.status_code == 409
    assert again.mimetype == "application/problem+json"
    assert "completed" in again.json["detail"]
    assert sched.rows("scheduler", Appointment, Appointment.id == aid)[0].sequence == 4


def test_invalid_transitions_answer_409_and_change_nothing(sched: SchedulerSystem) -> None:
    aid = book(sched, NOW + timedelta(days=3))["id"]
    complete = act(sched, aid, "complete")
    assert complete.status_code == 409
    assert "Check the client in first" in complete.json["detail"]
    early = act(sched, aid, "no-show")
    assert early.status_code == 409
    assert "once it has started" in early.json["detail"]
    assert act(sched, "no-such-id", "confirm").status_code == 404
    assert outbox_events(sched, "appointment.no_show") == []
    clock(sched).set(NOW + timedelta(days=3, minutes=20))
    late_confirm = act(sched, aid, "confirm")
    assert late_confirm.status_code == 409
    assert "already started" in late_confirm.json["detail"]
    no_show = act(sched, aid, "no-show")
    assert (no_show.status_code, no_show.json["status"], no_show.json["sequence"]) == (
        200,
        "no_show",
        2,
    )
    assert act(sched, aid, "check-in").status_code == 409
    row = sched.rows("scheduler", Appointment, Appointment.id == aid)[0]
    assert (row.status, row.sequence) == ("no_show", 2)


def test_cancellation_is_late_inside_the_practice_window(sched: SchedulerSystem) -> None:
    soon = book(sched, NOW + timedelta(hours=20))["id"]
    later = book(sched, NOW + timedelta(days=4))["id"]
    by_practice = book(sched, NOW + timedelta(hours=5))["id"]
    missing_reason = act(sched, soon, "cancel", cancelled_by="client", reason=" ")
    assert missing_reason.status_code == 422
    late = act(sched, soon, "cancel", cancelled_by="client", reason="Sick")
    assert late.status_code == 200, late.json
    assert (late.json["status"], late.json["late_cancellation"]) == ("cancelled", True)
    assert (
        act(sched, later, "cancel", cancelled_by="client", reason="Trip").json["late_cancellation"]
        is False
    )
    assert (
        act(sched, by_practice, "cancel", cancelled_by="practice", reason="Therapist ill").json[
            "late_cancellation"
        ]
        is False
    )
    events = {e["appointment_id"]: e for e in outbox_events(sched, "appointment.cancelled")}
    assert (events[soon]["late"], events[soon]["cancelled_by"], events[soon]["reason"]) == (
        True,
        "client",
        "Sick",
    )
    assert events[by_practice]["cancelled_by"] == "practice"
    assert events[soon]["sequence"] == 2
    entry = audit_entries(sched, entity="appointment", entity_id=soon)[0]
    assert (entry["action"], entry["reason"]) == ("appointment.cancelled", "Sick")
    assert (entry["before"]["status"], entry["after"]["status"]) == ("booked", "cancelled")
    # The freed slot can be booked again.
    assert book(sched, NOW + timedelta(hours=20), client="client-priya")["status"] == "booked"


def test_reschedule_moves_one_session_and_refuses_a_clash(sched: SchedulerSystem) -> None:
    first = book(sched, NOW + timedelta(days=2))
    other = book(sched, NOW + timedelta(days=2, hours=3), client="client-priya")
    assert act(sched, first["id"], "confirm").status_code == 200
    clash = act(sched, first["id"], "reschedule", starts_at=other["starts_at"])
    assert clash.status_code == 409
    assert clash.json["conflicting_starts_at"] == other["starts_at"]
    not_a_course = act(
        sched,
        first["id"],
        "reschedule",
        starts_at=(NOW + timedelta(days=5)).isoformat(),
        scope="rest_of_course",
    )
    assert not_a_course.status_code == 422
    past = act(sched, first["id"], "reschedule", starts_at=(NOW - timedelta(days=1)).isoformat())
    assert past.status_code == 422
    new_start = NOW + timedelta(days=5, hours=2)
    moved = act(sched, first["id"], "reschedule", starts_at=new_start.isoformat(), reason="Asked")
    assert moved.status_code == 200, moved.json
    # A confirmed session moved to a new time needs confirming again.
    assert (moved.json["status"], moved.json["sequence"]) == ("booked", 3)
    assert moved.json["starts_at"] == new_start.isoformat()
    assert moved.json["ends_at"] == (new_start + timedelta(minutes=50)).isoformat()
    [event] = outbox_events(sched, "appointment.rescheduled")
    assert (event["previous_starts_at"], event["sequence"]) == (
        first["starts_at"].replace("+00:00", "Z"),
        3,
    )
    # Its old time is free again.
    assert book(sched, NOW + timedelta(days=2), client="client-marek")["status"] == "booked"


def test_a_reply_to_confirm_confirms_the_next_booked_session(sched: SchedulerSystem) -> None:
    next_one = book(sched, NOW + timedelta(days=1))["id"]
    after = book(sched, NOW + timedelta(days=8))["id"]
    reply = ClientReplied(
        client_id=demo_id("client-jordan"),
        intent="confirm",
        message_id="SM1",
        received_at=NOW,
    )
    assert sched.deliver(reply)
    [row] = sched.rows("scheduler", Appointment, Appointment.id == next_one)
    assert (row.status, row.sequence) == ("confirmed", 2)
    assert [e["appointment_id"] for e in outbox_events(sched, "appointment.confirmed")] == [
        next_one
    ]
    entry = audit_entries(sched, entity="appointment", entity_id=next_one)[0]
    assert entry["actor_role"] == "client"
    # A second "yes" for the same session changes nothing; one naming a session confirms it.
    sched.deliver(reply.model_copy(update={"message_id": "SM2", "appointment_id": next_one}))
    assert len(outbox_events(sched, "appointment.confirmed")) == 1
    sched.deliver(reply.model_copy(update={"message_id": "SM3", "appointment_id": after}))
    assert sched.rows("scheduler", Appointment, Appointment.id == after)[0].status == "confirmed"
    # Another intent, or someone else's appointment, is ignored.
    third = book(sched, NOW + timedelta(days=15))["id"]
    sched.deliver(reply.model_copy(update={"message_id": "SM4", "intent": "call_back"}))
    sched.deliver(
        reply.model_copy(
            update={
                "message_id": "SM5",
                "client_id": demo_id("client-priya"),
                "appointment_id": third,
            }
        )
    )
    assert sched.rows("scheduler", Appointment, Appointment.id == third)[0].status == "booked"


def test_reminder_and_invoice_outcomes_show_at_the_desk(sched: SchedulerSystem) -> None:
    aid = book(sched, NOW + timedelta(days=2))["id"]
    client = demo_id("client-jordan")

    def shown() -> tuple[Any, Any, Any]:
        a = sched.call("scheduler", "GET", f"/api/v1/appointments/{aid}").json
        return a["reminder_status"], a["invoice_status"], a["invoice_number"]

    sent = ReminderSent(
        reminder_id="r1",
        appointment_id=aid,
        client_id=client,
        channel="sms",
        kind="24h",
        message_id="SM9",
        sent_at=NOW,
    )
    sched.deliver(sent)
    assert shown()[0] == "sent"
    sched.deliver(
        MessageDelivered(
            message_id="SM9",
            reminder_id="r1",
            appointment_id=aid,
            client_id=client,
            channel="sms",
            delivered_at=NOW,
        )
    )
    assert shown()[0] == "delivered"
    # A later send does not hide that a message got through; a failure does not either.
    sched.deliver(sent.model_copy(update={"reminder_id": "r2"}))
    sched.deliver(
        ReminderFailed(
            reminder_id="r3",
            appointment_id=aid,
            client_id=client,
            channel="email",
            kind="24h",
            reason="mailbox full",
            permanent=True,
            failed_at=NOW,
        )
    )
    assert shown()[0] == "delivered"

    invoice = {"invoice_id": str(uuid.uuid4()), "number": "INV-7", "client_id": client}
    paid = InvoicePaid(
        **invoice, appointment_ids=[aid], total_minor=100, currency="USD", paid_at=NOW
    )
    # Out of order: paid arrives before issued; issued must not undo it.
    sched.deliver(paid, source="billing")
    sched.deliver(
        InvoiceIssued(**invoice, appointment_ids=[aid], total_minor=100, currency="USD"),
        source="billing",
    )
    assert shown()[1:] == ("paid", "INV-7")
    sched.deliver(InvoiceVoided(**invoice, appointment_ids=[aid], reason="error"), source="billing")
    assert shown()[1:] == ("void", "INV-7")
