"""What the notifier does when clients and appointments change."""

from __future__ import annotations

import logging
import uuid

from services.notifier import planning
from services.notifier.tables import AppointmentView, ClientContact, Reminder
from shared.contracts.appointments import AppointmentFacts
from shared.contracts.notifications import PlannedReminder, RemindersPlanned
from shared.contracts.registry_data import ClientSnapshot
from shared.handlers import HandlerContext

log = logging.getLogger(__name__)


class ProjectionMissing(RuntimeError):
    """An event refers to something whose own event has not arrived yet; retried later."""


def remember_client(event: ClientSnapshot, ctx: HandlerContext) -> None:
    contact = ctx.session.get(ClientContact, event.client_id)
    if contact is not None and contact.revision >= event.revision:
        return
    fields = {
        "revision": event.revision,
        "first_name": event.first_name,
        "email": event.email,
        "phone": event.phone,
        "time_zone": event.time_zone,
        "preferred_channels": ",".join(event.preferred_channels),
        "sms_consent": event.sms_consent,
        "email_consent": event.email_consent,
        "active": event.active,
    }
    if contact is None:
        ctx.session.add(ClientContact(client_id=event.client_id, **fields))
    else:
        for name, value in fields.items():
            setattr(contact, name, value)


def _apply_appointment(event: AppointmentFacts, ctx: HandlerContext) -> AppointmentView | None:
    """Update the projection; None when the event is older than what we hold."""
    view = ctx.session.get(AppointmentView, event.appointment_id)
    if view is not None and view.sequence >= event.sequence:
        log.info(
            "stale appointment event ignored",
            extra={"appointment_id": event.appointment_id, "sequence": event.sequence},
        )
        return None
    if view is None:
        view = AppointmentView(appointment_id=event.appointment_id)
        ctx.session.add(view)
    view.sequence = event.sequence
    view.status = event.status
    view.client_id = event.client_id
    view.practitioner_id = event.practitioner_id
    view.starts_at = event.starts_at
    view.ends_at = event.ends_at
    return view


def recipient_of(contact: ClientContact) -> planning.Recipient:
    preferred = set(contact.preferred_channels.split(","))
    usable = set()
    if contact.active and "sms" in preferred and contact.sms_consent and contact.phone:
        usable.add("sms")
    if contact.active and "email" in preferred and contact.email_consent and contact.email:
        usable.add("email")
    return planning.Recipient(contact.time_zone, frozenset(usable))


def plan_reminders(event: AppointmentFacts, ctx: HandlerContext) -> None:
    contact = ctx.session.get(ClientContact, event.client_id)
    if contact is None:
        raise ProjectionMissing(f"client {event.client_id} not known yet")
    view = _apply_appointment(event, ctx)
    if view is None:
        return
    ctx.session.flush()
    planned = planning.plan(event.starts_at, recipient_of(contact), ctx.now)
    reminders = [
        Reminder(
            id=str(uuid.uuid4()),
            appointment_id=event.appointment_id,
            client_id=event.client_id,
            appointment_sequence=event.sequence,
            kind=p.kind,
            channel=p.channel,
            due_at=p.due_at,
            status="planned",
            created_at=ctx.now,
        )
        for p in planned
    ]
    ctx.session.add_all(reminders)
    ctx.emit(
        RemindersPlanned(
            appointment_id=event.appointment_id,
            appointment_sequence=event.sequence,
            reminders=[
                PlannedReminder(
                    reminder_id=r.id,
                    channel=r.channel,
                    kind=r.kind,  # type: ignore[arg-type]
                    due_at=r.due_at,
                )
                for r in reminders
            ],
        )
    )


HANDLERS = {
    "client.registered": [remember_client],
    "client.updated": [remember_client],
    "appointment.booked": [plan_reminders],
}
