"""What the notifier does when clients, practitioners and appointments change.

booked: plan the confirmation and reminders. rescheduled: cancel what is pending, plan again,
send one notice. cancelled: cancel what is pending, send one notice. Any other appointment
event only updates our copy. An event older than our copy (its sequence) changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import select

from services.notifier import metrics, planning
from services.notifier.policy import Policy, policy_for
from services.notifier.tables import AppointmentView, ClientContact, PractitionerName, Reminder
from shared.contracts.appointments import AppointmentFacts
from shared.contracts.notifications import PlannedReminder, RemindersPlanned
from shared.contracts.registry_data import ClientSnapshot, PractitionerSnapshot
from shared.handlers import HandlerContext

log = logging.getLogger(__name__)

PENDING = ("planned",)
IN_PLAN = ("planned", "sending", "sent")


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
        "locale": event.locale,
        "preferred_channels": ",".join(event.preferred_channels),
        "sms_consent": event.sms_consent,
        "email_consent": event.email_consent,
        "active": event.active,
    }
    if contact is None:
        ctx.session.add(ClientContact(client_id=event.client_id, sms_opted_out=False, **fields))
    else:
        for name, value in fields.items():
            setattr(contact, name, value)


def remember_practitioner(event: PractitionerSnapshot, ctx: HandlerContext) -> None:
    known = ctx.session.get(PractitionerName, event.practitioner_id)
    if known is not None and known.revision >= event.revision:
        return
    if known is None:
        ctx.session.add(
            PractitionerName(
                practitioner_id=event.practitioner_id,
                revision=event.revision,
                display_name=event.display_name,
            )
        )
    else:
        known.revision, known.display_name = event.revision, event.display_name


def _apply_appointment(event: AppointmentFacts, ctx: HandlerContext) -> AppointmentView | None:
    """Update the projection; None when the event is not newer than what we hold."""
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
    view.service_type_id = event.service_type_id
    view.starts_at = event.starts_at
    view.ends_at = event.ends_at
    view.time_zone = event.time_zone
    ctx.session.flush()
    return view


def recipient_of(contact: ClientContact) -> planning.Recipient:
    """The channels we may use now: preferred, consented, reachable, not opted out."""
    preferred = set(contact.preferred_channels.split(","))
    usable = set()
    sms_allowed = contact.sms_consent and not contact.sms_opted_out
    if contact.active and "sms" in preferred and sms_allowed and contact.phone:
        usable.add("sms")
    if contact.active and "email" in preferred and contact.email_consent and contact.email:
        usable.add("email")
    return planning.Recipient(contact.time_zone, frozenset(usable))


def _contact(ctx: HandlerContext, client_id: str) -> ClientContact:
    contact = ctx.session.get(ClientContact, client_id)
    if contact is None:
        raise ProjectionMissing(f"client {client_id} not known yet")
    return contact


def plan_reminders(event: AppointmentFacts, ctx: HandlerContext) -> None:
    contact = _contact(ctx, event.client_id)
    view = _apply_appointment(event, ctx)
    if view is None:
        return
    policy = policy_for(ctx.session, view.service_type_id)
    recipient = recipient_of(contact)
    planned = planning.plan(event.starts_at, recipient, ctx.now, policy.rules, policy.quiet)
    _add(ctx, view, _capped(ctx, contact, planned, policy))
    _emit_plan(ctx, view)


def replan_after_reschedule(event: AppointmentFacts, ctx: HandlerContext) -> None:
    contact = _contact(ctx, event.client_id)
    previous = ctx.session.get(AppointmentView, event.appointment_id)
    earlier_start = previous.starts_at if previous else event.starts_at
    view = _apply_appointment(event, ctx)
    if view is None:
        return
    _cancel_pending(ctx, view, "rescheduled")
    policy = policy_for(ctx.session, view.service_type_id)
    recipient = recipient_of(contact)
    planned = planning.plan(
        event.starts_at, recipient, ctx.now, policy.reminder_rules, policy.quiet
    )
    notice = planning.plan_notice(
        "reschedule_notice",
        policy.notice_channels,
        recipient,
        ctx.now,
        min(earlier_start, event.starts_at),
        policy.quiet,
    )
    _add(ctx, view, _capped(ctx, contact, planned, policy) + ([notice] if notice else []))
    _emit_plan(ctx, view)


def cancel_reminders(event: AppointmentFacts, ctx: HandlerContext) -> None:
    contact = _contact(ctx, event.client_id)
    view = _apply_appointment(event, ctx)
    if view is None:
        return
    _cancel_pending(ctx, view, "appointment cancelled")
    policy = policy_for(ctx.session, view.service_type_id)
    notice = planning.plan_notice(
        "cancellation_notice",
        policy.notice_channels,
        recipient_of(contact),
        ctx.now,
        event.starts_at,
        policy.quiet,
    )
    _add(ctx, view, [notice] if notice else [])
    _emit_plan(ctx, view)


def follow_appointment(event: AppointmentFacts, ctx: HandlerContext) -> None:
    """confirmed, checked in, completed, no-show: our copy only (send time checks the rest)."""
    _apply_appointment(event, ctx)


def _capped(
    ctx: HandlerContext, contact: ClientContact, planned: list[planning.Planned], policy: Policy
) -> list[planning.Planned]:
    already = ctx.session.scalars(
        select(Reminder.due_at).where(
            Reminder.client_id == contact.client_id,
            Reminder.kind == "reminder",
            Reminder.channel == "sms",
            Reminder.status.in_(IN_PLAN),
        )
    ).all()
    kept, dropped = planning.apply_sms_caps(planned, list(already), contact.time_zone, policy.caps)
    for p in dropped:
        log.info("reminder SMS over the client's cap, not planned", extra={"due_at": str(p.due_at)})
        metrics.REMINDERS_CAPPED.labels(p.channel).inc()
    return kept


def _cancel_pending(ctx: HandlerContext, view: AppointmentView, why: str) -> None:
    for reminder in ctx.session.scalars(
        select(Reminder).where(
            Reminder.appointment_id == view.appointment_id, Reminder.status.in_(PENDING)
        )
    ):
        reminder.status, reminder.note = "cancelled", why


def _add(ctx: HandlerContext, view: AppointmentView, planned: list[planning.Planned]) -> None:
    for p in planned:
        ctx.session.add(new_reminder(view, p.kind, p.channel, p.due_at, ctx.now))
        metrics.REMINDERS_PLANNED.labels(p.channel, p.kind).inc()
    ctx.session.flush()


def new_reminder(
    view: AppointmentView,
    kind: str,
    channel: str,
    due_at: datetime,
    now: datetime,
    fallback_of: str | None = None,
) -> Reminder:
    return Reminder(
        id=str(uuid.uuid4()),
        appointment_id=view.appointment_id,
        client_id=view.client_id,
        appointment_sequence=view.sequence,
        kind=kind,
        channel=channel,
        due_at=due_at,
        status="planned",
        created_at=now,
        attempts=0,
        fallback_of=fallback_of,
    )


def _emit_plan(ctx: HandlerContext, view: AppointmentView) -> None:
    """The whole current plan of the appointment: what is still to go and what went."""
    reminders = ctx.session.scalars(
        select(Reminder)
        .where(Reminder.appointment_id == view.appointment_id, Reminder.status.in_(IN_PLAN))
        .order_by(Reminder.due_at, Reminder.channel)
    ).all()
    ctx.emit(
        RemindersPlanned(
            appointment_id=view.appointment_id,
            appointment_sequence=view.sequence,
            reminders=[
                PlannedReminder(
                    reminder_id=r.id,
                    channel=r.channel,  # type: ignore[arg-type]
                    kind=r.kind,
                    due_at=r.due_at,
                    status=r.status,
                )
                for r in reminders
            ],
        )
    )


HANDLERS = {
    "client.registered": [remember_client],
    "client.updated": [remember_client],
    "practitioner.registered": [remember_practitioner],
    "practitioner.updated": [remember_practitioner],
    "appointment.booked": [plan_reminders],
    "appointment.rescheduled": [replan_after_reschedule],
    "appointment.cancelled": [cancel_reminders],
    "appointment.confirmed": [follow_appointment],
    "appointment.checked_in": [follow_appointment],
    "appointment.completed": [follow_appointment],
    "appointment.no_show": [follow_appointment],
}
