"""What an SMS reply means for check-ins. A reply to a check-in sent to that number within the
last day is the client's answer: a number from 0 to 10 (words after it allowed) is recorded
against the question it answers; anything else goes to the practitioner's inbox, not the desk's.
PAUSE pauses check-ins only; RESUME (or START, which also undoes STOP) resumes them.

The safety net: a score at or below the practice's threshold, or a reply with a word from its
crisis list, gives the practitioner an urgent item at once and sends the client the practice's
safety message — once per reply, and not again to the same client within a day. Nothing here
judges or answers the client beyond that message."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifier import check_ins, metrics
from services.notifier.tables import (
    CheckIn,
    CheckInAnswer,
    CheckInEnrolment,
    CheckInSettings,
    ClientContact,
    InboundMessage,
    PractitionerInboxItem,
)
from shared.contracts.check_ins import CheckInAnswerRecorded
from shared.handlers import Emitter

SAFETY_AGAIN_AFTER = timedelta(hours=24)


def take(session: Session, inbound: InboundMessage, emitter: Emitter) -> bool:
    """Act on a reply as a check-in reply; True when it was one (the desk does not see it)."""
    now = inbound.received_at
    contacts = session.scalars(
        select(ClientContact).where(ClientContact.phone == inbound.from_phone)
    ).all()
    enrolments = [
        e
        for c in contacts
        if (e := session.get(CheckInEnrolment, c.client_id)) is not None and e.active
    ]
    if inbound.intent in ("pause", "resume", "opt_in"):
        for enrolment in enrolments:
            enrolment.paused_at = now if inbound.intent == "pause" else None
        if enrolments and inbound.intent != "opt_in":
            metrics.CHECK_IN_PAUSES.labels(inbound.intent).inc()
            return True
        return False
    if inbound.intent != "other":
        return False
    settings = session.get(CheckInSettings, "practice")
    question = _open_question(session, inbound.from_phone, now)
    if question is None:
        # Not an answer; crisis words from an enrolled client still reach their practitioner.
        if len(enrolments) == 1 and settings and _crisis(inbound.body, settings):
            _safety_net(session, inbound, enrolments[0].client_id, enrolments[0].practitioner_id)
            _urgent_reason(session, inbound, None, "reply contains a word from the crisis list")
        return False
    score = check_ins.score_of(inbound.body)
    inbound.client_id = question.client_id
    urgent = settings is not None and check_ins.needs_safety_net(
        score, inbound.body, settings.threshold, settings.crisis_words
    )
    if score is not None and question.answered_at is None:
        question.answered_at = now
        session.add(
            CheckInAnswer(
                id=str(uuid.uuid4()),
                check_in_id=question.id,
                client_id=question.client_id,
                practitioner_id=question.practitioner_id,
                score=score,
                body=inbound.body,
                inbound_id=inbound.id,
                received_at=now,
                urgent=urgent,
            )
        )
        emitter.emit(
            session,
            CheckInAnswerRecorded(
                check_in_id=question.id,
                client_id=question.client_id,
                practitioner_id=question.practitioner_id,
                received_at=now,
            ),
        )
        metrics.CHECK_INS_ANSWERED.inc()
    else:
        _inbox(session, inbound, question, "reply", "a reply to a check-in that is not a score")
    if urgent:
        assert settings is not None
        low = score is not None and score <= settings.threshold
        reason = (
            "check-in score at or below the practice's threshold"
            if low
            else "reply contains a word from the crisis list"
        )
        _urgent_reason(session, inbound, question, reason)
        _safety_net(session, inbound, question.client_id, question.practitioner_id)
    return True


def _crisis(body: str, settings: CheckInSettings) -> bool:
    return bool(check_ins.crisis_words_in(body, settings.crisis_words))


def _open_question(session: Session, phone: str, now: datetime) -> CheckIn | None:
    return session.scalars(
        select(CheckIn)
        .where(
            CheckIn.kind == "question",
            CheckIn.recipient == phone,
            CheckIn.status.in_(("sent", "sending")),
            CheckIn.sent_at >= now - check_ins.ANSWER_WINDOW,
        )
        .order_by(CheckIn.sent_at.desc())
    ).first()


def _inbox(
    session: Session,
    inbound: InboundMessage,
    question: CheckIn | None,
    kind: str,
    reason: str,
    practitioner_id: str | None = None,
) -> None:
    session.add(
        PractitionerInboxItem(
            id=str(uuid.uuid4()),
            practitioner_id=practitioner_id or (question.practitioner_id if question else ""),
            client_id=question.client_id if question else (inbound.client_id or ""),
            kind=kind,
            inbound_id=inbound.id,
            check_in_id=question.id if question else None,
            reason=reason,
            created_at=inbound.received_at,
        )
    )


def _urgent_reason(
    session: Session, inbound: InboundMessage, question: CheckIn | None, reason: str
) -> None:
    practitioner = None
    if question is None and inbound.client_id:
        enrolment = session.get(CheckInEnrolment, inbound.client_id)
        practitioner = enrolment.practitioner_id if enrolment else None
    _inbox(session, inbound, question, "urgent", reason, practitioner)
    metrics.CHECK_IN_URGENT.labels("score" if "score" in reason else "words").inc()


def _safety_net(
    session: Session, inbound: InboundMessage, client_id: str, practitioner_id: str
) -> None:
    """Queue the safety message for the client (the sender sends it at once)."""
    inbound.client_id = client_id
    now = inbound.received_at
    recent = session.scalars(
        select(CheckIn.id).where(
            CheckIn.client_id == client_id,
            CheckIn.kind == "safety",
            CheckIn.created_at > now - SAFETY_AGAIN_AFTER,
        )
    ).first()
    if recent is not None:
        return
    session.add(
        CheckIn(
            id=str(uuid.uuid4()),
            client_id=client_id,
            practitioner_id=practitioner_id,
            kind="safety",
            question=None,
            due_at=now,
            status="planned",
            created_at=now,
            trigger_id=inbound.id,
        )
    )
