"""What the scheduler does with other services' events: show reminder and invoice outcomes at
the desk, keep a copy of clients' insurance authorizations, confirm a session when the client
replies to confirm it, and book a freed slot for a waiting client who replies Y to its offer."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    Update,
    and_,
    bindparam,
    case,
    func,
    literal,
    not_,
    or_,
    select,
    update,
)

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


# The status events below are applied as one UPDATE each, built once, whose WHERE and CASE
# carry the ordering rules, so that no appointment is loaded into the session for them: they
# are most of what the worker applies. No Appointment object is in the session when they run
# (the dispatcher empties it between handlers), so none is left stale by them.
_APPOINTMENT = Appointment.metadata.tables[Appointment.__tablename__]
_COLUMNS = _APPOINTMENT.c
_IDS = bindparam("appointment_ids", type_=String(), expanding=True)
_NUMBER = bindparam("number", type_=String())

# A plan made for an older sequence than the appointment's own is out of date.
_SHOW_PLAN = (
    update(_APPOINTMENT)
    .where(
        _COLUMNS.id == bindparam("appointment_id"), _COLUMNS.sequence <= bindparam("plan_sequence")
    )
    .values(
        reminders_planned=bindparam("planned"),
        reminders_not_planned=bindparam("not_planned"),
        reminder_status=bindparam("plan_status"),
    )
)


def show_reminder_plan(event: RemindersPlanned, ctx: HandlerContext) -> None:
    ctx.session.execute(
        _SHOW_PLAN,
        {
            "appointment_id": event.appointment_id,
            "plan_sequence": event.appointment_sequence,
            "planned": len(event.reminders),
            "not_planned": len(event.not_planned),
            "plan_status": "planned" if event.reminders else "none",
        },
    )


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

# planned → sent → delivered; failed unless a message already got through.
_STATUS_AFTER: dict[str, ColumnElement[Any]] = {
    "sent": case(
        (
            or_(
                _COLUMNS.reminder_status.is_(None),
                _COLUMNS.reminder_status.in_(("none", "planned")),
            ),
            "sent",
        ),
        else_=_COLUMNS.reminder_status,
    ),
    "failed": case(
        (_COLUMNS.reminder_status == "delivered", _COLUMNS.reminder_status), else_="failed"
    ),
    "delivered": literal("delivered", String),
}

# confirmation_sent, reminder_delivered, notice_failed...: the latest message's fate. Once a
# message of a kind got through, later news of that kind (a copy on the other channel, a late
# failure report) does not hide it; a message that failed and then went out on the other
# channel shows as sent. ``=`` is never true for NULL, so a first message always shows.
_LAST_MESSAGE_AFTER = case(
    (_COLUMNS.last_message == bindparam("delivered"), _COLUMNS.last_message),
    else_=bindparam("shown_message"),
)

# (outcome, whether the message's kind shows as the last message) → its UPDATE.
_SHOW_OUTCOME = {
    (outcome, with_message): update(_APPOINTMENT)
    .where(_COLUMNS.id == bindparam("appointment_id"))
    .values(
        {"reminder_status": status, "last_message": _LAST_MESSAGE_AFTER}
        if with_message
        else {"reminder_status": status}
    )
    for outcome, status in _STATUS_AFTER.items()
    for with_message in (True, False)
}


def _reminder_outcome(
    appointment_id: str | None, outcome: str, ctx: HandlerContext, kind: str | None = None
) -> None:
    """Show a message's outcome in its appointment's reminder status and, for a kind the desk
    names, as its last message; a message about no appointment, or an unknown one, changes
    nothing."""
    if appointment_id is None:
        return
    if kind is None or kind == "reply_confirmed":
        ctx.session.execute(_SHOW_OUTCOME[outcome, False], {"appointment_id": appointment_id})
        return
    category = CATEGORIES.get(kind, "reminder")
    ctx.session.execute(
        _SHOW_OUTCOME[outcome, True],
        {
            "appointment_id": appointment_id,
            "delivered": f"{category}_delivered",
            "shown_message": f"{category}_{outcome}",
        },
    )


def show_reminder_sent(event: ReminderSent, ctx: HandlerContext) -> None:
    _reminder_outcome(event.appointment_id, "sent", ctx, event.kind)


def show_reminder_failed(event: ReminderFailed, ctx: HandlerContext) -> None:
    _reminder_outcome(event.appointment_id, "failed", ctx, event.kind)


def show_message_delivered(event: MessageDelivered, ctx: HandlerContext) -> None:
    _reminder_outcome(event.appointment_id, "delivered", ctx, event.kind)


def show_message_failed(event: MessageFailed, ctx: HandlerContext) -> None:
    _reminder_outcome(event.appointment_id, "failed", ctx, event.kind)


def _show_invoice_as(status: str, keep: ColumnElement[bool]) -> Update:
    """Set the invoice's status and number on its appointments, except where ``keep``."""
    return (
        update(_APPOINTMENT)
        .where(_COLUMNS.id.in_(_IDS), not_(keep))
        .values(invoice_status=status, invoice_number=_NUMBER)
    )


def _this_invoice_is(*statuses: str) -> ColumnElement[bool]:
    # IS NOT DISTINCT FROM / coalesce: a NULL number or status is "not this", never unknown.
    return and_(
        _COLUMNS.invoice_number.is_not_distinct_from(_NUMBER),
        func.coalesce(_COLUMNS.invoice_status, "").in_(statuses),
    )


# A paid or voided invoice arriving before its own issue event keeps its later state.
_SHOW_ISSUED = _show_invoice_as("issued", _this_invoice_is("paid", "void"))
_SHOW_PAID = _show_invoice_as("paid", _this_invoice_is("void"))
# A newer invoice that already replaced the voided one stays.
_SHOW_VOIDED = _show_invoice_as(
    "void", and_(_COLUMNS.invoice_number.is_not(None), _COLUMNS.invoice_number != _NUMBER)
)


def _show_invoice(
    statement: Update, event: InvoiceIssued | InvoicePaid | InvoiceVoided, ctx: HandlerContext
) -> None:
    if event.appointment_ids:
        ctx.session.execute(
            statement, {"appointment_ids": event.appointment_ids, "number": event.number}
        )


def show_invoice(event: InvoiceIssued, ctx: HandlerContext) -> None:
    _show_invoice(_SHOW_ISSUED, event, ctx)


def show_invoice_paid(event: InvoicePaid, ctx: HandlerContext) -> None:
    _show_invoice(_SHOW_PAID, event, ctx)


def show_invoice_voided(event: InvoiceVoided, ctx: HandlerContext) -> None:
    _show_invoice(_SHOW_VOIDED, event, ctx)


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
