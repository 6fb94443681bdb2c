"""The check-in sender loop: sends due check-in questions and safety messages by SMS, one at a
time, at most once each.

A question goes only if the client still allows SMS (consent, no STOP), has not paused
check-ins (PAUSE), is under their own daily check-in cap (NOTIFIER_CHECK_IN_SMS_PER_DAY, apart
from the reminders' caps) and it is outside quiet hours where the client is (a question that
fell due in them waits for their end). Whether it goes or not, the next one is planned in the
same transaction, so a stopped worker never ends a client's check-ins. A safety message answers
the client's own reply, so it goes at once, quiet hours or not, if the client allows SMS.

A worker killed between marking a message ``sending`` and recording the provider's answer
leaves that one ``sending``: it is never resent blindly (the message log shows it)."""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifier import metrics, templates
from services.notifier.channels import (
    Channel,
    OutboundMessage,
    PermanentFailure,
    SendFailure,
    TransientFailure,
    body_digest,
)
from services.notifier.check_in_handlers import plan_next
from services.notifier.dispatcher import SmsPace, build_channels
from services.notifier.handlers import recipient_of
from services.notifier.planning import QuietHours, after_quiet
from services.notifier.policy import policy_for
from services.notifier.settings import NotifierSettings
from services.notifier.tables import (
    CheckIn,
    CheckInEnrolment,
    CheckInSettings,
    ClientContact,
    Message,
)
from shared.service import Runtime

log = logging.getLogger(__name__)
FOOTER = " Reply PAUSE to pause check-ins."


@dataclass(frozen=True)
class Job:
    check_in_id: str
    kind: str
    message: OutboundMessage


class CheckInSender:
    def __init__(self, rt: Runtime, channels: dict[str, Channel] | None = None) -> None:
        self.rt = rt
        self.settings = NotifierSettings.from_env(rt.settings.extra)
        self.per_day = int(rt.settings.extra.get("NOTIFIER_CHECK_IN_SMS_PER_DAY", "1"))
        self.channels = channels or build_channels(rt)
        self.limit = SmsPace(rt.db, rt.clock, self.settings.sms_per_second)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once(stop)
            except Exception:
                log.exception("check-in sending failed; trying again")
            stop.wait(self.settings.dispatch_interval)

    def run_once(self, stop: threading.Event | None = None) -> int:
        stop = stop or threading.Event()
        handled = 0
        while handled < self.settings.batch_size and not stop.is_set():
            job = self.claim_next(stop)
            if job is None:
                break
            self.deliver(job)
            handled += 1
        return handled

    def claim_next(self, stop: threading.Event) -> Job | None:
        now = self.rt.clock.now()
        statement = (
            select(CheckIn)
            .where(CheckIn.status == "planned", CheckIn.due_at <= now)
            .order_by(CheckIn.due_at)
            .limit(1)
        )
        if self.rt.db.is_postgres:
            statement = statement.with_for_update(skip_locked=True)
        with self.rt.db.transaction() as session:
            while True:
                check_in = session.scalars(statement).first()
                if check_in is None:
                    return None
                job = self._prepare(session, check_in, now)
                if job is None:
                    session.flush()
                    continue
                sender = self.rt.settings.extra.get("TWILIO_FROM_NUMBER", "sms")
                self.limit.wait(sender, stop, session)
                if stop.is_set():
                    return None
                self._mark_sending(session, check_in, job, self.rt.clock.now())
                return job

    def _prepare(self, session: Session, check_in: CheckIn, now: datetime) -> Job | None:
        contact = session.get(ClientContact, check_in.client_id)
        enrolment = session.get(CheckInEnrolment, check_in.client_id)
        if check_in.kind == "question":
            if enrolment is None or not enrolment.active:
                check_in.status, check_in.note = "cancelled", "check-ins ended"
                return None
            if contact is not None and self._in_quiet_hours(session, contact, now):
                check_in.due_at = after_quiet(
                    now, ZoneInfo(contact.time_zone), self._quiet(session)
                )
                return None
            plan_next(session, enrolment, check_in.due_at, now)
        why_not = self._why_not(session, check_in, contact, enrolment, now)
        if why_not is not None or contact is None or contact.phone is None:
            check_in.status, check_in.note = "skipped", why_not or "no phone number"
            metrics.CHECK_INS_SKIPPED.labels(check_in.kind, (why_not or "no phone")[:40]).inc()
            log.info("check-in skipped", extra={"check_in_id": check_in.id, "why": why_not})
            return None
        text = self._text(session, check_in)
        if text is None:
            check_in.status, check_in.note = "skipped", "no safety message configured"
            return None
        message = OutboundMessage(
            message_id=str(uuid.uuid4()),
            channel="sms",
            to=contact.phone,
            text=text,
            written_at=now,
        )
        return Job(check_in.id, check_in.kind, message)

    def _quiet(self, session: Session) -> QuietHours | None:
        return policy_for(session, None).quiet

    def _in_quiet_hours(self, session: Session, contact: ClientContact, now: datetime) -> bool:
        quiet = self._quiet(session)
        local = now.astimezone(ZoneInfo(contact.time_zone)).time()
        return quiet is not None and quiet.contains(local)

    def _why_not(
        self,
        session: Session,
        check_in: CheckIn,
        contact: ClientContact | None,
        enrolment: CheckInEnrolment | None,
        now: datetime,
    ) -> str | None:
        if contact is None:
            return "client unknown"
        if "sms" not in recipient_of(contact).channels:
            return "client does not allow SMS"
        if check_in.kind != "question":
            return None
        if enrolment is not None and enrolment.paused_at is not None:
            return "paused by the client"
        if self._sent_today(session, contact, now) >= self.per_day:
            return "over the client's daily check-in cap"
        return None

    @staticmethod
    def _sent_today(session: Session, contact: ClientContact, now: datetime) -> int:
        zone = ZoneInfo(contact.time_zone)
        sent = session.scalars(
            select(CheckIn.sent_at).where(
                CheckIn.client_id == contact.client_id,
                CheckIn.kind == "question",
                CheckIn.status.in_(("sending", "sent")),
                CheckIn.sent_at.is_not(None),
            )
        ).all()
        today = now.astimezone(zone).date()
        return sum(1 for at in sent if at is not None and at.astimezone(zone).date() == today)

    @staticmethod
    def _text(session: Session, check_in: CheckIn) -> str | None:
        if check_in.kind == "question":
            return templates.sms_body((check_in.question or "") + FOOTER)
        settings = session.get(CheckInSettings, "practice")
        if settings is None or not settings.safety_message:
            return None
        return templates.sms_body(settings.safety_message)

    def _mark_sending(self, session: Session, check_in: CheckIn, job: Job, now: datetime) -> None:
        check_in.status, check_in.sent_at = "sending", now
        check_in.message_id, check_in.recipient = job.message.message_id, job.message.to
        session.add(
            Message(
                id=job.message.message_id,
                reminder_id=None,
                appointment_id=None,
                client_id=check_in.client_id,
                channel="sms",
                kind="check_in" if check_in.kind == "question" else "safety_message",
                recipient=job.message.to,
                provider=self.channels["sms"].name,
                status="sending",
                created_at=now,
                updated_at=now,
                body_digest=body_digest(job.message.text),
            )
        )

    def deliver(self, job: Job) -> None:
        try:
            provider_id = self.channels["sms"].send(job.message)
        except SendFailure as failure:
            self._record(job, None, failure)
        except Exception as exc:
            log.exception("unexpected error sending a check-in", extra={"id": job.check_in_id})
            self._record(job, None, TransientFailure(f"unexpected {type(exc).__name__}"))
        else:
            self._record(job, provider_id, None)

    def _record(self, job: Job, provider_id: str | None, failure: SendFailure | None) -> None:
        now = self.rt.clock.now()
        with self.rt.db.transaction() as session:
            check_in = session.get_one(CheckIn, job.check_in_id)
            message = session.get_one(Message, job.message.message_id)
            message.updated_at = now
            if failure is None:
                check_in.status, check_in.sent_at = "sent", now
                message.provider_id = provider_id
                message.status = "queued" if message.provider == "twilio" else "sent"
                metrics.CHECK_INS_SENT.labels(job.kind).inc()
                return
            # Not retried: the next check-in is already planned, and a safety message the
            # client could not receive is on the practitioner's urgent item anyway.
            permanent = isinstance(failure, PermanentFailure)
            check_in.status, check_in.note = "failed", failure.reason
            message.status, message.error_code = "failed", failure.code
            metrics.CHECK_INS_FAILED.labels(job.kind, str(permanent).lower()).inc()
