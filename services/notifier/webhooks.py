"""Twilio's webhooks: inbound SMS replies and message status callbacks. Public, but every
request must carry a valid X-Twilio-Signature for RAPPORT_PUBLIC_URL + path; otherwise 403
and nothing changes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from services.notifier import check_in_replies, keywords, metrics, offers
from services.notifier.dispatcher import fall_back
from services.notifier.handlers import new_reminder
from services.notifier.tables import (
    AppointmentView,
    ClientContact,
    InboundMessage,
    Message,
    OfferView,
    Reminder,
)
from shared.auth import public
from shared.contracts.notifications import (
    ClientOptedOut,
    ClientReplied,
    MessageDelivered,
    MessageFailed,
)
from shared.contracts.waitlist import OfferAccepted
from shared.http import Problem
from shared.web import runtime

webhooks = Blueprint("notifier_webhooks", __name__, url_prefix="/webhooks/twilio")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
STATUS_RANK = {
    "accepted": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
}


def _signed_form() -> dict[str, str]:
    rt = runtime()
    token = rt.settings.extra.get("TWILIO_AUTH_TOKEN")
    signature = request.headers.get("X-Twilio-Signature", "")
    url = rt.settings.public_url + request.path
    if request.query_string:
        url += "?" + request.query_string.decode()
    form = request.form.to_dict()
    if not token or not signature or not RequestValidator(token).validate(url, form, signature):
        raise Problem(
            403, "Forbidden", "This request is not signed by Twilio for this address; ignored."
        )
    return form


def _twiml() -> Response:
    return Response(EMPTY_TWIML, mimetype="text/xml")


@webhooks.post("/sms")
@public
def inbound_sms() -> Any:
    form = _signed_form()
    sid, sender, body = form.get("MessageSid", ""), form.get("From", ""), form.get("Body", "")
    if not sid or not sender:
        raise Problem(400, "Malformed webhook", "MessageSid and From are required.")
    receive_sms(sid, sender, body)
    return _twiml()


def receive_sms(sid: str, sender: str, body: str) -> InboundMessage:
    """Record a reply and act on it; the same MessageSid twice changes nothing."""
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        seen = session.scalars(select(InboundMessage).where(InboundMessage.provider_id == sid))
        if (earlier := seen.first()) is not None:
            return earlier  # Twilio retried a webhook we already handled
        intent = keywords.intent_of(body)
        answer = _answer_to(session, sender, intent, now)
        taking = _offer_answered(session, sender, answer, now) if intent == "confirm" else None
        if taking is not None:
            inbound = _accept_offer(session, sid, sender, body, taking, now)
        else:
            inbound = _record_reply(session, sid, sender, body, intent, answer, now)
    metrics.INBOUND.labels("accept_offer" if taking is not None else intent).inc()
    rt.outbox_written()
    return inbound


def _record_reply(
    session: Session,
    sid: str,
    sender: str,
    body: str,
    intent: keywords.Intent,
    answer: Answer,
    now: datetime,
) -> InboundMessage:
    inbound = InboundMessage(
        id=str(uuid.uuid4()),
        provider_id=sid,
        from_phone=sender,
        client_id=answer.contact.client_id if answer.contact else None,
        appointment_id=answer.appointment.appointment_id if answer.appointment else None,
        body=body[:1600],
        intent=intent,
        needs_desk=False,
        received_at=now,
    )
    session.add(inbound)
    # A check-in answer (or PAUSE) is the practitioner's, never the desk's.
    check_in_reply = check_in_replies.take(session, inbound, runtime().emitter)
    if check_in_reply:
        answer, inbound.appointment_id = Answer(None, None), None
    inbound.needs_desk = not check_in_reply and (
        intent in ("call_back", "other", "pause", "resume")
        or (intent == "confirm" and answer.appointment is None)
    )
    if answer.question is not None and intent == "confirm":
        answer.question.answered_at = now
    for contact in answer.opting:
        _opt(session, contact, inbound)
    if answer.contact is not None and intent in ("call_back", "other"):
        _replied(session, answer.contact, inbound, answer.appointment)
    if intent == "confirm" and answer.appointment is not None and answer.contact is not None:
        # Only a C we can place is published: the scheduler would otherwise confirm the
        # client's next session, a guess the desk should make instead.
        _replied(session, answer.contact, inbound, answer.appointment)
        _acknowledge(session, answer.appointment, now)
    return inbound


def _offer_answered(
    session: Session, sender: str, answer: Answer, now: datetime
) -> OfferView | None:
    """The waiting-list offer a Y answers: the latest offer SMS to this number still open,
    unless a confirmation question was sent after it (the Y then answers that)."""
    found = offers.answered_offer(session, sender, now)
    if found is None:
        return None
    view, message = found
    if answer.question is not None and answer.question.created_at > message.created_at:
        return None
    return view


def _accept_offer(
    session: Session, sid: str, sender: str, body: str, view: OfferView, now: datetime
) -> InboundMessage:
    inbound = InboundMessage(
        id=str(uuid.uuid4()),
        provider_id=sid,
        from_phone=sender,
        client_id=view.client_id,
        appointment_id=None,
        body=body[:1600],
        intent="confirm",
        needs_desk=False,
        received_at=now,
    )
    session.add(inbound)
    runtime().emitter.emit(
        session,
        OfferAccepted(
            offer_id=view.offer_id,
            client_id=view.client_id,
            message_id=inbound.id,
            received_at=now,
        ),
    )
    return inbound


@dataclass
class Answer:
    """Who a reply is from and what it answers; None where that is not certain."""

    contact: ClientContact | None
    appointment: AppointmentView | None
    question: Message | None = None
    opting: list[ClientContact] = field(default_factory=list)


def _answer_to(session: Session, sender: str, intent: str, now: datetime) -> Answer:
    """A C answers the latest SMS to this number that asked for a confirmation and is still
    open (not answered, its session neither started nor cancelled); with none open, the
    client's next session. Two clients sharing the number with no open question, or two
    questions sent at the same instant, is ambiguous: the desk decides, nobody guesses."""
    contacts = list(session.scalars(select(ClientContact).where(ClientContact.phone == sender)))
    if intent in ("opt_out", "opt_in"):
        # STOP is about the number: every client reached on it.
        return Answer(contacts[0] if len(contacts) == 1 else None, None, opting=contacts)
    open_questions = session.execute(
        select(Message, AppointmentView)
        .join(AppointmentView, AppointmentView.appointment_id == Message.appointment_id)
        .where(
            Message.channel == "sms",
            Message.recipient == sender,
            Message.asks_confirmation.is_(True),
            Message.answered_at.is_(None),
            Message.status.not_in(("failed", "undelivered")),
            AppointmentView.status.in_(("booked", "confirmed")),
            AppointmentView.starts_at > now,
        )
        .order_by(Message.created_at.desc())
        .limit(2)
    ).all()
    by_id = {c.client_id: c for c in contacts}
    if open_questions:
        (question, view), *rest = open_questions
        tie = rest and rest[0][0].created_at == question.created_at
        if rest and tie and rest[0][1].appointment_id != view.appointment_id:
            return Answer(None if len(contacts) > 1 else by_id.get(question.client_id), None)
        return Answer(by_id.get(question.client_id), view, question)
    if len(contacts) != 1:
        return Answer(None, None)
    contact = contacts[0]
    return Answer(contact, _next_appointment(session, contact.client_id, now))


def _next_appointment(session: Session, client_id: str, now: datetime) -> AppointmentView | None:
    return session.scalars(
        select(AppointmentView)
        .where(
            AppointmentView.client_id == client_id,
            AppointmentView.status.in_(("booked", "confirmed")),
            AppointmentView.starts_at > now,
        )
        .order_by(AppointmentView.starts_at)
    ).first()


def _opt(session: Session, contact: ClientContact, inbound: InboundMessage) -> None:
    opted_out = inbound.intent == "opt_out"
    contact.sms_opted_out = opted_out
    runtime().emitter.emit(
        session,
        ClientOptedOut(
            client_id=contact.client_id,
            channel="sms",
            opted_out=opted_out,
            at=inbound.received_at,
        ),
    )
    metrics.OPT_OUTS.labels(str(opted_out).lower()).inc()


def _replied(
    session: Session,
    contact: ClientContact,
    inbound: InboundMessage,
    appointment: AppointmentView | None,
) -> None:
    runtime().emitter.emit(
        session,
        ClientReplied(
            client_id=contact.client_id,
            appointment_id=appointment.appointment_id if appointment else None,
            intent=inbound.intent,  # type: ignore[arg-type]
            message_id=inbound.id,
            received_at=inbound.received_at,
        ),
    )


def _acknowledge(session: Session, appointment: AppointmentView, now: datetime) -> None:
    """Tell the client, where they wrote, which session their C confirmed."""
    session.add(new_reminder(appointment, "reply_confirmed", "sms", now, now))


@webhooks.post("/status")
@public
def message_status() -> Any:
    form = _signed_form()
    sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
    if status not in STATUS_RANK:
        raise Problem(400, "Malformed webhook", f"Unknown MessageStatus {status!r}.")
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        message = session.scalars(select(Message).where(Message.provider_id == sid)).first()
        if message is None or STATUS_RANK.get(message.status, 0) >= STATUS_RANK[status]:
            return "", 204  # not ours, or older news than what we hold
        message.status, message.updated_at = status, now
        message.error_code = form.get("ErrorCode") or message.error_code
        refs = {
            "message_id": message.id,
            "reminder_id": message.reminder_id,
            "appointment_id": message.appointment_id,
            "client_id": message.client_id,
            "channel": message.channel,
            "kind": message.kind,
        }
        if status == "delivered":
            rt.emitter.emit(session, MessageDelivered.model_validate({**refs, "delivered_at": now}))
            metrics.MESSAGES_DELIVERED.labels(message.channel).inc()
        elif status in ("failed", "undelivered"):
            rt.emitter.emit(
                session,
                MessageFailed.model_validate(
                    {**refs, "status": status, "error_code": message.error_code, "failed_at": now}
                ),
            )
            metrics.MESSAGES_UNDELIVERED.labels(message.channel, status).inc()
            reminder = session.get(Reminder, message.reminder_id) if message.reminder_id else None
            if reminder is not None and reminder.status == "sent":
                # The carrier could not deliver it: try the client's other channel, once.
                reminder.status, reminder.note = (
                    "undelivered",
                    f"carrier error {message.error_code}",
                )
                fall_back(session, reminder, now)
    rt.outbox_written()
    return "", 204
