"""What the scheduler does with other services' events: show reminder and invoice outcomes at
the desk, keep a copy of clients' insurance authorizations, confirm a session when the client
replies to confirm it, and book a freed slot for a waiting client who replies Y to its offer."""

from __future__ import annotations

import json

from sqlalchemy import select

from services.scheduler import domain, lifecycle, refill
from services.scheduler.tables import Appointment, AuthorizationView, WaitlistOffer
from shared.contracts.appointments import AppointmentConfirmed
from shared.contracts.billing import (
    AuthorizationRecorded,
    InvoiceIssued,
    InvoicePaid,
    InvoiceVoided,
)
from shared.contracts.notifications import (
    ClientReplied,
    MessageDelivered,
    MessageFailed,
    ReminderFailed,
    ReminderSent,
    RemindersPlanned,
)
from shared.contracts.waitlist import OfferAccepted
from shared.handlers import Handler, HandlerContext

# Who the audit log names for changes made by a client's own reply.
CLIENT_REPLY_ACTOR = ("client-reply", "client")


def show_reminder_plan(event: RemindersPlanned, ctx: HandlerContext) -> None:
    appointment = ctx.session.get(Appointment, event.appointment_id)
    if appointment is None or event.appointment_sequence < appointment.sequence:
        return
    appointment.reminders_planned = len(event.reminders)
    appointment.reminders_not_planned = len(event.not_planned)
    appointment.reminder_status = "planned" if event.reminders else "none"


# What the desk calls a message of each kind; the client's "thank you" to a C is none of them.
CATEGORIES = {
    "confirmation": "confirmation",
    "course_confirmation": "confirmation",
    "reminder": "reminder",
    "reschedule_notice": "notice",
    "cancellation_notice": "notice",
    "course_reschedule_notice": "notice",
    "course_cancellation_notice": "notice",
}


def _last_message(appointment: Appointment, kind: str | None, outcome: str) -> None:
    """confirmation_sent, reminder_delivered, notice_failed...: the latest message's fate. Once
    a message of a kind got through, later news of that kind (a copy on the other channel, a
    late failure report) does not hide it; a message that failed and then went out on the
    other channel shows as sent."""
    if kind is None or kind == "reply_confirmed":
        return
    category = CATEGORIES.get(kind, "reminder")
    if appointment.last_message == f"{category}_delivered":
        return
    appointment.last_message = f"{category}_{outcome}"


def _reminder_outcome(
    appointment_id: str | None, outcome: str, ctx: HandlerContext, kind: str | None = None
) -> None:
    """planned → sent → delivered; failed unless a message already got through."""
    if appointment_id is None:
        return
    appointment = ctx.session.get(Appointment, appointment_id)
    if appointment is None:
        return
    _last_message(appointment, kind, outcome)
    current = appointment.reminder_status
    if outcome == "sent" and current not in (None, "none", "planned"):
        return
    if outcome == "failed" and current == "delivered":
        return
    appointment.reminder_status = outcome


def show_reminder_sent(event: ReminderSent, ctx: HandlerContext) -> None:
    _reminder_outcome(event.appointment_id, "sent", ctx, event.kind)


def show_reminder_failed(event: ReminderFailed, ctx: HandlerContext) -> None:
    _reminder_outcome(event.appointment_id, "failed", ctx, event.kind)


def show_message_delivered(event: MessageDelivered, ctx: HandlerContext) -> None:
    _reminder_outcome(event.appointment_id, "delivered", ctx, event.kind)


def show_message_failed(event: MessageFailed, ctx: HandlerContext) -> None:
    _reminder_outcome(event.appointment_id, "failed", ctx, event.kind)


def show_invoice(event: InvoiceIssued, ctx: HandlerContext) -> None:
    for appointment_id in event.appointment_ids:
        appointment = ctx.session.get(Appointment, appointment_id)
        if appointment is None:
            continue
        # A paid or voided invoice arriving before its own issue event keeps its later state.
        if appointment.invoice_number == event.number and appointment.invoice_status in {
            "paid",
            "void",
        }:
            continue
        appointment.invoice_status = "issued"
        appointment.invoice_number = event.number


def show_invoice_paid(event: InvoicePaid, ctx: HandlerContext) -> None:
    for appointment_id in event.appointment_ids:
        appointment = ctx.session.get(Appointment, appointment_id)
        if appointment is None:
            continue
        if appointment.invoice_number == event.number and appointment.invoice_status == "void":
            continue
        appointment.invoice_status = "paid"
        appointment.invoice_number = event.number


def show_invoice_voided(event: InvoiceVoided, ctx: HandlerContext) -> None:
    for appointment_id in event.appointment_ids:
        appointment = ctx.session.get(Appointment, appointment_id)
        if appointment is None:
            continue
        if appointment.invoice_number not in (None, event.number):
            continue  # a newer invoice already replaced the voided one
        appointment.invoice_status = "void"
        appointment.invoice_number = event.number


def confirm_from_reply(event: ClientReplied, ctx: HandlerContext) -> None:
    """A client's "yes" confirms the session it answered, or else their next booked one."""
    if event.intent != "confirm":
        return
    if event.appointment_id is not None:
        appointment = ctx.session.get(Appointment, event.appointment_id, with_for_update=True)
        if appointment is None or appointment.client_id != event.client_id:
            return
    else:
        appointment = ctx.session.scalars(
            select(Appointment)
            .where(
                Appointment.client_id == event.client_id,
                Appointment.status.in_(domain.ACTIVE_STATUSES),
                Appointment.starts_at > ctx.now,
            )
            .order_by(Appointment.starts_at)
            .limit(1)
            .with_for_update()
        ).first()
    if appointment is None or appointment.status != "booked" or appointment.starts_at <= ctx.now:
        return  # already confirmed, cancelled or past: nothing to do
    lifecycle.apply(
        ctx.session,
        appointment,
        "confirm",
        AppointmentConfirmed,
        now=ctx.now,
        emit=ctx.emit,
        actor=CLIENT_REPLY_ACTOR,
        audit_reason=f"client replied to confirm (message {event.message_id})",
        changes={"confirmed_by": "client"},
    )


def accept_offer_from_reply(event: OfferAccepted, ctx: HandlerContext) -> None:
    """A client's Y to the SMS that offered them a freed slot: theirs if it is still free."""
    offer = ctx.session.get(WaitlistOffer, event.offer_id)
    if offer is None or offer.client_id != event.client_id:
        return
    refill.accept(ctx.session, offer.id, "sms", ctx.now, ctx.emit, CLIENT_REPLY_ACTOR)


def remember_authorization(event: AuthorizationRecorded, ctx: HandlerContext) -> None:
    view = ctx.session.get(AuthorizationView, event.authorization_id, with_for_update=True)
    if view is not None and view.revision >= event.revision:
        return
    if view is None:
        view = AuthorizationView(authorization_id=event.authorization_id)
        ctx.session.add(view)
    view.revision = event.revision
    view.client_id = event.client_id
    view.payer, view.number = event.payer, event.number
    view.cpt_codes = json.dumps(event.cpt_codes)
    view.sessions_authorized = event.sessions_authorized
    view.valid_from, view.valid_to = event.valid_from, event.valid_to
    view.units_used = event.units_used


HANDLERS: dict[str, list[Handler]] = {
    "authorization.recorded": [remember_authorization],
    "reminder.planned": [show_reminder_plan],
    "reminder.sent": [show_reminder_sent],
    "reminder.failed": [show_reminder_failed],
    "message.delivered": [show_message_delivered],
    "message.failed": [show_message_failed],
    "invoice.issued": [show_invoice],
    "invoice.paid": [show_invoice_paid],
    "invoice.voided": [show_invoice_voided],
    "client.replied": [confirm_from_reply],
    "waitlist.offer_accepted": [accept_offer_from_reply],
}
