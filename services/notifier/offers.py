"""Waiting-list offers: the message that offers a freed slot to a waiting client, and the one
telling a client who answered too late that it was taken.

An offer goes on the client's preferred channel among those they allow (consent, STOP), held
while quiet hours last where they are, and not at all if that would be after the offer expires.
It says only the practice, the practitioner, the date and time and how to accept: reply Y, or
the link. The offer loop claims each message (``SKIP LOCKED``), checks again that the offer is
open and the channel allowed, records it in the message log, and sends it outside any
transaction. A Y that answers an open offer by SMS becomes waitlist.offer_accepted for the
scheduler, which alone decides who gets the slot.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifier import metrics, planning, practice, templates
from services.notifier.channels import OutboundMessage, SendFailure, body_digest
from services.notifier.dispatcher import ReminderDispatcher
from services.notifier.handlers import ProjectionMissing, recipient_of
from services.notifier.policy import policy_for
from services.notifier.settings import NotifierSettings
from services.notifier.tables import (
    ClientContact,
    Message,
    OfferNotice,
    OfferView,
    PractitionerName,
)
from shared.contracts.waitlist import OfferClosed, OfferMade
from shared.handlers import Handler, HandlerContext
from shared.service import Runtime

log = logging.getLogger(__name__)
OFFER, TAKEN = "waitlist_offer", "waitlist_taken"


def _notice(
    view: OfferView, kind: str, channel: str, due_at: datetime, now: datetime
) -> OfferNotice:
    return OfferNotice(
        id=str(uuid.uuid4()),
        offer_id=view.offer_id,
        client_id=view.client_id,
        kind=kind,
        channel=channel,
        due_at=due_at,
        status="planned",
        created_at=now,
    )


def preferred_channel(contact: ClientContact) -> str | None:
    """The first of the client's preferred channels they allow us to use now."""
    usable = recipient_of(contact).channels
    return next((c for c in contact.preferred_channels.split(",") if c in usable), None)


def plan_offer(event: OfferMade, ctx: HandlerContext) -> None:
    if ctx.session.get(OfferView, event.offer_id) is not None:
        return
    contact = ctx.session.get(ClientContact, event.client_id)
    if contact is None:
        raise ProjectionMissing(f"client {event.client_id} not known yet")
    view = OfferView(
        offer_id=event.offer_id,
        client_id=event.client_id,
        practitioner_id=event.practitioner_id,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        time_zone=event.time_zone,
        expires_at=event.expires_at,
        accept_url=event.accept_url,
        status="open",
        created_at=ctx.now,
    )
    ctx.session.add(view)
    ctx.session.flush()
    channel = preferred_channel(contact)
    if channel is None:
        log.info("offer not sent: no channel allowed", extra={"offer_id": view.offer_id})
        return
    quiet = policy_for(ctx.session, None).quiet
    due = planning.after_quiet_hours(ctx.now, contact.time_zone, quiet)
    if due >= view.expires_at:
        log.info("offer not sent: quiet hours last past it", extra={"offer_id": view.offer_id})
        return
    ctx.session.add(_notice(view, OFFER, channel, due, ctx.now))


def close_offer(event: OfferClosed, ctx: HandlerContext) -> None:
    """A closed offer's message not yet sent is dropped; a client who answered too late by SMS
    hears, where they wrote, that the slot was taken."""
    view = ctx.session.get(OfferView, event.offer_id)
    if view is None:
        raise ProjectionMissing(f"offer {event.offer_id} not known yet")
    if view.status == "open" or event.outcome == "accepted":
        view.status = event.outcome
    for pending in ctx.session.scalars(
        select(OfferNotice).where(
            OfferNotice.offer_id == view.offer_id,
            OfferNotice.kind == OFFER,
            OfferNotice.status == "planned",
        )
    ):
        pending.status, pending.note = "skipped", f"offer {event.outcome}"
    if event.outcome == "taken" and event.answered_by == "sms":
        ctx.session.add(_notice(view, TAKEN, "sms", ctx.now, ctx.now))


def answered_offer(
    session: Session, sender: str, now: datetime
) -> tuple[OfferView, Message] | None:
    """The offer the latest offer SMS to this number made, while it can still be answered (its
    time neither expired nor started); the scheduler decides whether it is still free."""
    found = session.execute(
        select(OfferView, Message)
        .join(OfferNotice, OfferNotice.offer_id == OfferView.offer_id)
        .join(Message, Message.id == OfferNotice.message_id)
        .where(
            OfferNotice.kind == OFFER,
            Message.channel == "sms",
            Message.recipient == sender,
            Message.status.not_in(("failed", "undelivered")),
            OfferView.status != "expired",
            OfferView.expires_at > now,
            OfferView.starts_at > now,
        )
        .order_by(Message.created_at.desc())
        .limit(1)
    ).first()
    return (found[0], found[1]) if found else None


HANDLERS: dict[str, list[Handler]] = {
    "waitlist.offer_made": [plan_offer],
    "waitlist.offer_closed": [close_offer],
}


# -- sending -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    notice_id: str
    message: OutboundMessage


class OfferSender:
    """Sends offer messages through the reminder dispatcher's channels and within its per-number
    SMS rate."""

    def __init__(self, rt: Runtime, dispatcher: ReminderDispatcher) -> None:
        self.rt = rt
        self.settings = NotifierSettings.from_env(rt.settings.extra)
        self.channels = dispatcher.channels
        self.limit = dispatcher.limit

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once(stop)
            except Exception:
                log.exception("offer sending failed; trying again")
            stop.wait(self.settings.dispatch_interval)

    def run_once(self, stop: threading.Event | None = None) -> int:
        stop = stop or threading.Event()
        self.settle_stuck()
        sent = 0
        while not stop.is_set() and (job := self.claim_next()) is not None:
            if job.message.channel == "sms":
                self.limit.wait(self.rt.settings.extra.get("TWILIO_FROM_NUMBER", "sms"), stop)
            self.deliver(job)
            sent += 1
        return sent

    def settle_stuck(self) -> int:
        """Messages a stopped worker left ``sending`` past NOTIFIER_SENDING_TIMEOUT become
        ``unknown``: an offer is never sent twice blindly (the client can still accept it by
        its link, and the desk sees it in the message log)."""
        now = self.rt.clock.now()
        cutoff = now - timedelta(seconds=self.settings.sending_timeout)
        with self.rt.db.transaction() as session:
            stuck = session.execute(
                select(OfferNotice, Message)
                .join(Message, Message.id == OfferNotice.message_id)
                .where(OfferNotice.status == "sending", Message.created_at < cutoff)
            ).all()
            for notice, message in stuck:
                notice.status, notice.note = "unknown", "the worker stopped while sending it"
                message.status, message.updated_at = "unknown", now
                metrics.REMINDERS_FAILED.labels(notice.channel, "outcome_unknown").inc()
        return len(stuck)

    def claim_next(self) -> Job | None:
        now = self.rt.clock.now()
        statement = (
            select(OfferNotice)
            .where(OfferNotice.status == "planned", OfferNotice.due_at <= now)
            .order_by(OfferNotice.due_at)
            .limit(1)
        )
        if self.rt.db.is_postgres:
            statement = statement.with_for_update(skip_locked=True)
        with self.rt.db.transaction() as session:
            while (notice := session.scalars(statement).first()) is not None:
                view = session.get_one(OfferView, notice.offer_id)
                contact = session.get(ClientContact, notice.client_id)
                why_not = _why_not(notice, view, contact, now)
                if why_not or contact is None:
                    notice.status, notice.note = "skipped", why_not
                    session.flush()
                    continue
                message = self._render(session, notice, view, contact, now)
                notice.status, notice.message_id = "sending", message.message_id
                session.add(
                    Message(
                        id=message.message_id,
                        client_id=notice.client_id,
                        channel=notice.channel,
                        kind=notice.kind,
                        recipient=message.to,
                        provider=self.channels[notice.channel].name,
                        status="sending",
                        created_at=now,
                        updated_at=now,
                        body_digest=body_digest(message.text),
                    )
                )
                return Job(notice.id, message)
        return None

    def _render(
        self,
        session: Session,
        notice: OfferNotice,
        view: OfferView,
        contact: ClientContact,
        now: datetime,
    ) -> OutboundMessage:
        speaker = practice.voice(session, self.settings)
        named = session.get(PractitionerName, view.practitioner_id)
        values = templates.context(
            practice_name=speaker.name,
            practice_phone=speaker.phone,
            practitioner=named.display_name if named else "your practitioner",
            starts_at=view.starts_at,
            time_zone=contact.time_zone,
            locale=contact.locale,
        )
        until = templates.format_time(
            view.expires_at.astimezone(ZoneInfo(contact.time_zone)), contact.locale
        )
        if notice.kind == OFFER:
            subject = f"{speaker.name}: a session is free"
            text = (
                f"{speaker.name}: a session with {values['practitioner']} is free on "
                f"{values['short_date']} at {values['time']}. Reply Y by {until} to book it, "
                f"or open {view.accept_url}"
            )
        else:
            subject = f"{speaker.name}: that session was taken"
            text = (
                f"{speaker.name}: sorry, the session on {values['short_date']} at "
                f"{values['time']} was taken. You stay on our waiting list."
            )
        to = contact.phone if notice.channel == "sms" else contact.email
        assert to is not None
        return OutboundMessage(
            message_id=str(uuid.uuid4()),
            channel=notice.channel,
            to=to,
            text=templates.sms_body(text) if notice.channel == "sms" else text,
            subject=subject if notice.channel == "email" else None,
            written_at=now,
        )

    def deliver(self, job: Job) -> None:
        try:
            provider_id: str | None = self.channels[job.message.channel].send(job.message)
            failure = None
        except SendFailure as exc:
            provider_id, failure = None, exc.reason
        except Exception as exc:
            log.exception("unexpected error while sending an offer")
            provider_id, failure = None, f"unexpected {type(exc).__name__}"
        now = self.rt.clock.now()
        with self.rt.db.transaction() as session:
            notice = session.get_one(OfferNotice, job.notice_id)
            message = session.get_one(Message, job.message.message_id)
            message.updated_at = now
            if failure is None:
                notice.status, notice.sent_at = "sent", now
                message.provider_id = provider_id
                message.status = "queued" if message.provider == "twilio" else "sent"
                metrics.REMINDERS_SENT.labels(notice.channel, notice.kind).inc()
            else:
                notice.status, notice.note = "failed", failure
                message.status = "failed"
                metrics.REMINDERS_FAILED.labels(notice.channel, failure.split(":")[0][:40]).inc()


def _why_not(
    notice: OfferNotice, view: OfferView, contact: ClientContact | None, now: datetime
) -> str | None:
    if contact is None:
        return "client unknown"
    if notice.kind == OFFER and (view.status != "open" or view.expires_at <= now):
        return f"offer {view.status if view.status != 'open' else 'expired'}"
    if notice.channel not in recipient_of(contact).channels:
        return f"client no longer allows {notice.channel}"
    return None
