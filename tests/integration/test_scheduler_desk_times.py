"""Lifecycle that matches the day and statuses that say what happened, on real PostgreSQL
through the scheduler's API and handlers: check-in opens on the session's day a set time
before it, complete and no-show need it started, a 409 names the time on the practice's clock
(New York in the demo); the desk tells a confirmation sent from a reminder sent and from a
session the client confirmed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.scheduler.tables import Appointment
from shared.clock import FrozenClock
from shared.contracts.notifications import (
    ClientReplied,
    MessageDelivered,
    PlannedReminder,
    ReminderSent,
    RemindersPlanned,
)
from shared.demo import demo_id
from tests.integration.test_scheduler_support import SchedulerSystem, scheduler_only

pytestmark = pytest.mark.integration
NY = ZoneInfo("America/New_York")
NOW = datetime(2027, 1, 12, 10, 0, tzinfo=NY)  # Tuesday morning at the practice


@pytest.fixture
def sched(system_env: dict[str, str]) -> Iterator[SchedulerSystem]:
    with scheduler_only(system_env) as s:
        rt = s.runtimes["scheduler"]
        rt.clock = rt.emitter.clock = FrozenClock(NOW)
        yield s


def set_clock(s: SchedulerSystem, at: datetime) -> None:
    """Move the scheduler's clock; sign in again, as tokens expire by the application clock."""
    c = s.runtimes["scheduler"].clock
    assert isinstance(c, FrozenClock)
    c.set(at)
    s.sign_out()


def book(s: SchedulerSystem, starts_at: datetime, client: str = "client-jordan") -> Any:
    return s.call(
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


def act(s: SchedulerSystem, appointment_id: str, action: str) -> Any:
    return s.call("scheduler", "POST", f"/api/v1/appointments/{appointment_id}/{action}")


def test_checking_in_a_session_next_week_is_a_409_naming_when_it_opens(
    sched: SchedulerSystem,
) -> None:
    next_week = datetime(2027, 1, 19, 15, 0, tzinfo=NY)
    aid = book(sched, next_week).json["id"]

    refused = act(sched, aid, "check-in")

    assert refused.status_code == 409
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json["detail"] == (
        "Check-in for this session opens at 2:00 PM EST on Tuesday, January 19, 2027."
    )
    row = sched.rows("scheduler", Appointment, Appointment.id == aid)[0]
    assert (row.status, row.sequence) == ("booked", 1)

    set_clock(sched, datetime(2027, 1, 19, 14, 0, tzinfo=NY))
    assert act(sched, aid, "check-in").json["status"] == "checked_in"
    early = act(sched, aid, "complete")
    assert early.status_code == 409
    assert "starts at 3:00 PM EST on Tuesday, January 19, 2027" in early.json["detail"]
    set_clock(sched, datetime(2027, 1, 19, 15, 50, tzinfo=NY))
    assert act(sched, aid, "complete").json["status"] == "completed"


def test_the_practice_sets_how_early_check_in_opens(sched: SchedulerSystem) -> None:
    practice = sched.call("scheduler", "GET", "/api/v1/practice").json
    assert practice["check_in_opens_minutes"] == 60
    settings = {
        k: practice[k]
        for k in ("name", "time_zone", "currency", "cancellation_window_hours", "phone")
    }
    bad = sched.call(
        "scheduler",
        "PUT",
        "/api/v1/practice",
        admin=True,
        json=settings | {"check_in_opens_minutes": -5},
    )
    assert bad.status_code == 422
    changed = sched.call(
        "scheduler",
        "PUT",
        "/api/v1/practice",
        admin=True,
        json=settings | {"check_in_opens_minutes": 180},
    )
    assert changed.status_code == 200, changed.json
    aid = book(sched, datetime(2027, 1, 12, 12, 30, tzinfo=NY)).json["id"]  # 2.5 h from now

    assert act(sched, aid, "check-in").json["status"] == "checked_in"


def test_a_booking_conflict_names_the_time_on_the_practices_clock(sched: SchedulerSystem) -> None:
    held = datetime(2027, 1, 14, 11, 0, tzinfo=NY)
    assert book(sched, held, client="client-priya").status_code == 201

    clash = book(sched, held + timedelta(minutes=20))

    assert clash.status_code == 409
    assert clash.json["detail"] == (
        "The practitioner already has a session from 11:00 AM EST on Thursday, January 14, 2027 "
        "to 11:50 AM EST."
    )
    assert datetime.fromisoformat(clash.json["conflicting_starts_at"]) == held


def test_the_desk_tells_confirmation_sent_from_reminder_sent_and_confirmed_by_client(
    sched: SchedulerSystem,
) -> None:
    starts_at = datetime(2027, 1, 13, 15, 0, tzinfo=NY)  # tomorrow afternoon
    aid = book(sched, starts_at).json["id"]
    client = demo_id("client-jordan")

    def shown(*fields: str) -> tuple[Any, ...]:
        a = sched.call("scheduler", "GET", f"/api/v1/appointments/{aid}").json
        return tuple(a[f] for f in fields)

    def message(kind: str, n: int) -> dict[str, Any]:
        return {"reminder_id": f"r{n}", "appointment_id": aid, "client_id": client,
                "channel": "sms", "kind": kind}  # fmt: skip

    def planned(kind: str, channel: str, due: datetime, status: str) -> PlannedReminder:
        return PlannedReminder(
            reminder_id=str(uuid.uuid4()), channel=channel, kind=kind, due_at=due, status=status
        )

    # Booked a day ahead: the 48-hour email would already have been due, and says so.
    sched.deliver(
        RemindersPlanned(
            appointment_id=aid,
            appointment_sequence=1,
            reminders=[
                planned("confirmation", "sms", NOW, "planned"),
                planned("reminder", "sms", starts_at - timedelta(hours=24), "planned"),
            ],
            not_planned=[
                planned("reminder", "email", starts_at - timedelta(hours=48), "not_planned")
            ],
        )
    )
    assert shown("reminders_planned", "reminders_not_planned") == (2, 1)

    sched.deliver(ReminderSent(**message("confirmation", 1), message_id="SM1", sent_at=NOW))
    assert shown("last_message", "reminder_status") == ("confirmation_sent", "sent")
    delivered = {"message_id": "SM1", "delivered_at": NOW}
    sched.deliver(MessageDelivered(**message("confirmation", 1), **delivered))
    assert shown("last_message")[0] == "confirmation_delivered"
    sched.deliver(ReminderSent(**message("reminder", 2), message_id="SM2", sent_at=NOW))
    assert shown("last_message")[0] == "reminder_sent"

    sched.deliver(
        ClientReplied(
            client_id=client,
            appointment_id=aid,
            intent="confirm",
            message_id=str(uuid.uuid4()),
            received_at=NOW,
        )
    )
    assert shown("status", "confirmed_by") == ("confirmed", "client")
    # The client's "thank you" SMS is not a reminder: what the desk sees stays.
    sched.deliver(ReminderSent(**message("reply_confirmed", 3), message_id="SM3", sent_at=NOW))
    assert shown("last_message")[0] == "reminder_sent"

    other = book(sched, datetime(2027, 1, 14, 15, 0, tzinfo=NY)).json["id"]
    assert act(sched, other, "confirm").json["confirmed_by"] == "desk"
    moved = sched.call(
        "scheduler",
        "POST",
        f"/api/v1/appointments/{aid}/reschedule",
        json={"starts_at": datetime(2027, 1, 15, 15, 0, tzinfo=NY).isoformat()},
    )
    assert (moved.json["status"], moved.json["confirmed_by"]) == ("booked", None)
