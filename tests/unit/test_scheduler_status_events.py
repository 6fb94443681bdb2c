"""The reminder, message and invoice outcomes the scheduler shows at the desk, applied as single
UPDATE statements (services/scheduler/handlers.py), on SQLite: for every state an appointment
can be in and every event that can arrive, in any order, the result is what the rules say
(planned → sent → delivered, failed unless delivered, the last message of each kind, invoices
not going back to an earlier state of the same invoice)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from services.scheduler import handlers
from services.scheduler.tables import EVENTS, Appointment, Base, Client, Practitioner, ServiceType
from shared.clock import FrozenClock
from shared.contracts.billing import InvoiceIssued, InvoicePaid, InvoiceVoided
from shared.contracts.notifications import (
    MessageDelivered,
    MessageFailed,
    PlannedReminder,
    ReminderFailed,
    ReminderSent,
    RemindersPlanned,
)
from shared.db import Database
from shared.envelope import new_envelope
from shared.handlers import Emitter, HandlerContext

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
IDS = ("appointment-1", "appointment-2")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/scheduler.db")
    Base.metadata.create_all(database.engine)
    with database.transaction() as session:
        session.add(Client(id="c", first_name="A", last_name="B", time_zone="UTC", created_at=NOW))
        session.add(Practitioner(id="p", display_name="Dr", time_zone="UTC"))
        session.add(ServiceType(id="s", name="Session", duration=timedelta(minutes=50)))
        session.flush()
        for appointment_id in IDS:
            session.execute(
                insert(Appointment).values(
                    id=appointment_id,
                    sequence=2,
                    status="booked",
                    client_id="c",
                    practitioner_id="p",
                    service_type_id="s",
                    starts_at=NOW,
                    ends_at=NOW,
                    time_zone="UTC",
                    booked_by="u",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    yield database
    database.dispose()


def apply(db: Database, handler: Any, event: Any, **state: Any) -> dict[str, Any]:
    """Put the appointments in ``state``, apply the event, and read the first one back."""
    with db.transaction() as session:
        if state:
            session.execute(update(Appointment).values(**state))
        envelope = new_envelope(
            event.TYPE,
            event.VERSION,
            event.payload(),
            source="test",
            occurred_at=NOW,
            correlation_id=None,
            causation_id=None,
        )
        emitter = Emitter(EVENTS, "scheduler", FrozenClock(NOW))
        handler(event, HandlerContext(session, envelope, NOW, emitter))
    return shown(db)[IDS[0]]


def shown(db: Database) -> dict[str, dict[str, Any]]:
    columns = (
        "reminder_status",
        "reminders_planned",
        "reminders_not_planned",
        "last_message",
        "invoice_status",
        "invoice_number",
    )
    with db.sessions() as session:
        rows = session.execute(select(Appointment.id, *(getattr(Appointment, c) for c in columns)))
        return {row.id: {c: getattr(row, c) for c in columns} for row in rows}


# -- the rules, as the desk reads them ------------------------------------------------------


def expected_reminder(
    status: str | None, last: str | None, outcome: str, kind: str | None
) -> tuple[str | None, str | None]:
    if kind is not None and kind != "reply_confirmed":
        category = handlers.CATEGORIES.get(kind, "reminder")
        if last != f"{category}_delivered":
            last = f"{category}_{outcome}"
    if outcome == "sent" and status not in (None, "none", "planned"):
        return status, last
    if outcome == "failed" and status == "delivered":
        return status, last
    return outcome, last


STATUSES = (None, "none", "planned", "sent", "delivered", "failed")
LAST = (None, "confirmation_delivered", "confirmation_sent", "reminder_delivered", "notice_failed")
KINDS = (None, "reply_confirmed", "confirmation", "reminder", "cancellation_notice", "thank_you")


def outcome_event(outcome: str, kind: str | None, how: str) -> tuple[Any, Any]:
    common: dict[str, Any] = {"appointment_id": IDS[0], "client_id": "c", "channel": "sms"}
    if how == "message":
        common |= {"message_id": "m", "kind": kind}
        if outcome == "delivered":
            return handlers.show_message_delivered, MessageDelivered(delivered_at=NOW, **common)
        return handlers.show_message_failed, MessageFailed(status="failed", failed_at=NOW, **common)
    common |= {"reminder_id": "r", "kind": kind or "reminder"}
    if outcome == "sent":
        return handlers.show_reminder_sent, ReminderSent(message_id="m", sent_at=NOW, **common)
    return handlers.show_reminder_failed, ReminderFailed(
        reason="x", permanent=True, failed_at=NOW, **common
    )


def test_every_message_outcome_in_every_state_follows_the_rules(db: Database) -> None:
    cases = [
        (outcome, kind, how)
        for outcome, how in (("sent", "reminder"), ("failed", "reminder"))
        for kind in KINDS
        if kind is not None
    ] + [(outcome, kind, "message") for outcome in ("delivered", "failed") for kind in KINDS]
    for (outcome, kind, how), status, last in itertools.product(cases, STATUSES, LAST):
        handler, event = outcome_event(outcome, kind, how)
        after = apply(db, handler, event, reminder_status=status, last_message=last)
        assert (after["reminder_status"], after["last_message"]) == expected_reminder(
            status, last, outcome, kind
        ), (outcome, kind, how, status, last)


def test_a_message_about_no_appointment_or_an_unknown_one_changes_nothing(db: Database) -> None:
    before = shown(db)
    delivered = MessageDelivered(message_id="m", client_id="c", channel="sms", delivered_at=NOW)
    handlers.show_message_delivered(delivered, None)  # type: ignore[arg-type]
    apply(db, handlers.show_message_delivered, delivered.model_copy(update={"appointment_id": "x"}))
    assert shown(db) == before


def test_a_plan_for_an_older_sequence_is_ignored(db: Database) -> None:
    reminder = PlannedReminder(reminder_id="r", channel="sms", kind="reminder", due_at=NOW)
    for sequence, reminders, not_planned in itertools.product((1, 2, 3), (0, 2), (0, 1)):
        event = RemindersPlanned(
            appointment_id=IDS[0],
            appointment_sequence=sequence,
            reminders=[reminder] * reminders,
            not_planned=[reminder] * not_planned,
        )
        after = apply(
            db,
            handlers.show_reminder_plan,
            event,
            reminder_status="sent",
            reminders_planned=7,
            reminders_not_planned=7,
        )
        if sequence < 2:
            assert after["reminder_status"] == "sent" and after["reminders_planned"] == 7
        else:
            assert after["reminder_status"] == ("planned" if reminders else "none")
            assert (after["reminders_planned"], after["reminders_not_planned"]) == (
                reminders,
                not_planned,
            )


def expected_invoice(kind: str, status: str | None, number: str | None) -> tuple[Any, Any]:
    if kind == "issued" and number == "A" and status in {"paid", "void"}:
        return status, number
    if kind == "paid" and number == "A" and status == "void":
        return status, number
    if kind == "void" and number not in (None, "A"):
        return status, number
    return kind, "A"


def test_every_invoice_event_in_every_state_follows_the_rules(db: Database) -> None:
    fields: dict[str, Any] = {"invoice_id": "i", "number": "A", "client_id": "c"}
    money: dict[str, Any] = {"total_minor": 100, "currency": "USD"}
    events = {
        "issued": (handlers.show_invoice, InvoiceIssued, money),
        "paid": (handlers.show_invoice_paid, InvoicePaid, money | {"paid_at": NOW}),
        "void": (handlers.show_invoice_voided, InvoiceVoided, {"reason": "x"}),
    }
    for (kind, (handler, contract, extra)), status, number in itertools.product(
        events.items(), (None, "issued", "paid", "void"), (None, "A", "B")
    ):
        event = contract(appointment_ids=[IDS[0]], **fields, **extra)
        after = apply(db, handler, event, invoice_status=status, invoice_number=number)
        assert (after["invoice_status"], after["invoice_number"]) == expected_invoice(
            kind, status, number
        ), (kind, status, number)


def test_an_invoice_event_applies_to_each_of_its_appointments_by_its_own_state(
    db: Database,
) -> None:
    with db.transaction() as session:
        session.execute(
            update(Appointment)
            .where(Appointment.id == IDS[1])
            .values(invoice_status="void", invoice_number="A")
        )
    event = InvoiceIssued(
        invoice_id="i",
        number="A",
        client_id="c",
        appointment_ids=[*IDS, "unknown"],
        total_minor=100,
        currency="USD",
    )
    apply(db, handlers.show_invoice, event)
    both = shown(db)
    assert (both[IDS[0]]["invoice_status"], both[IDS[0]]["invoice_number"]) == ("issued", "A")
    assert (both[IDS[1]]["invoice_status"], both[IDS[1]]["invoice_number"]) == ("void", "A")
