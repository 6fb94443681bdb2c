"""Between-session check-ins, the scheduler's side.

Who owns what: the scheduler owns the practice's check-in settings (the questions a
practitioner may choose from, and the safety net: threshold, crisis words, safety message) and
each client's enrolment (made by the client's practitioner, or an admin, on the client's page),
because it owns clients, practitioners and the desk. Both travel to the notifier by event
(``check_in.settings_updated``, ``check_in.enrolment_changed``, through the outbox). The notifier
owns everything that touches SMS: planning and sending check-ins within quiet hours, consent and
their own daily cap, STOP / PAUSE / RESUME, the replies and scores, the safety net's urgent
items and safety message, the practitioners' inbox, the chart and the audit of every read.
Scores and reply texts never leave the notifier."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date
from datetime import time as wall_time
from typing import Any, Literal

from flask import jsonify
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.scheduler.api import schemas
from services.scheduler.api.common import api, audit
from services.scheduler.tables import Appointment, CheckInEnrolment, CheckInSettings, Client
from shared.auth import Principal, current_principal, require_role
from shared.contracts.check_ins import CheckInEnrolmentChanged, CheckInSettingsUpdated
from shared.http import Problem, conflict, not_found, parse_body
from shared.web import runtime

PRACTICE = "practice"
DEFAULT_QUESTION = "How has today been, from 0 (worst) to 10 (best)? Reply with a number."
DEFAULT_QUESTIONS = [
    DEFAULT_QUESTION,
    "How are you doing today, from 0 (worst) to 10 (best)? Reply with a number.",
]
# A check-in goes by SMS to a phone others may see: it never names a diagnosis or a therapy.
CLINICAL = re.compile(
    r"\b(therap\w*|counsel\w*|depress\w*|anxi\w*|ptsd|trauma\w*|bipolar|psych\w*|"
    r"diagnos\w*|disorder\w*|ipt|cbt|dbt|emdr|medication\w*|suicid\w*)\b",
    re.IGNORECASE,
)


class CheckInSettingsBody(BaseModel):
    threshold: int = Field(3, ge=0, le=10)
    crisis_words: list[str] = Field(default_factory=list, max_length=100)
    safety_message: str | None = Field(None, max_length=480)
    questions: list[str] = Field(default_factory=lambda: list(DEFAULT_QUESTIONS), max_length=10)

    @field_validator("crisis_words")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        words = [" ".join(w.split()) for w in value if w.strip()]
        if any(len(w) > 60 for w in words):
            raise ValueError("each word or phrase is at most 60 characters")
        return words

    @field_validator("safety_message")
    @classmethod
    def _message(cls, value: str | None) -> str | None:
        return value.strip() if value and value.strip() else None

    @field_validator("questions")
    @classmethod
    def _questions(cls, value: list[str]) -> list[str]:
        questions = [q.strip() for q in value if q.strip()]
        if not questions:
            raise ValueError("give at least one question")
        for q in questions:
            if len(q) > 300:
                raise ValueError("a question is at most 300 characters")
            if CLINICAL.search(q):
                raise ValueError(f"{q!r} names a diagnosis or a therapy; an SMS must not")
        return questions


class EnrolmentBody(BaseModel):
    schedule: Literal["daily", "weekdays", "after_session"] = "daily"
    time: wall_time = Field(wall_time(19, 0), description="local time in the client's zone")
    weekdays: list[int] = Field(default_factory=list, description="0 = Monday")
    days_after: int | None = Field(None, ge=0, le=30)
    until: Literal["date", "upcoming_sessions"] = "upcoming_sessions"
    until_date: date | None = None
    question: str | None = None  # one of the practice's questions; the first if absent
    practitioner_id: str | None = Field(None, max_length=36)  # admins only; else the caller

    @model_validator(mode="after")
    def _complete(self) -> EnrolmentBody:
        if self.schedule == "weekdays" and (
            not self.weekdays or any(d < 0 or d > 6 for d in self.weekdays)
        ):
            raise ValueError("choose at least one weekday, 0 (Monday) to 6 (Sunday)")
        if self.schedule == "after_session" and self.days_after is None:
            raise ValueError("say how many days after each session (days_after)")
        if self.until == "date" and self.until_date is None:
            raise ValueError("give until_date, or until=upcoming_sessions")
        return self


def settings_json(s: CheckInSettings | None) -> schemas.CheckInSettings:
    if s is None:
        return {
            "threshold": 3,
            "crisis_words": [],
            "safety_message": None,
            "questions": list(DEFAULT_QUESTIONS),
            "ready": False,
            "revision": 0,
        }
    words = json.loads(s.crisis_words)
    return {
        "threshold": s.threshold,
        "crisis_words": words,
        "safety_message": s.safety_message,
        "questions": json.loads(s.questions),
        "ready": bool(words and s.safety_message),
        "revision": s.revision,
    }


def enrolment_json(e: CheckInEnrolment) -> schemas.CheckInEnrolment:
    return {
        "id": e.id,
        "client_id": e.client_id,
        "practitioner_id": e.practitioner_id,
        "active": e.active,
        "schedule": e.schedule,
        "time": e.local_time[:5],
        "weekdays": [int(d) for d in e.weekdays.split(",") if d],
        "days_after": e.days_after,
        "until": e.until,
        "until_date": e.until_date.isoformat() if e.until_date else None,
        "question": e.question,
        "revision": e.revision,
    }


def enrolment_event(e: CheckInEnrolment) -> CheckInEnrolmentChanged:
    return CheckInEnrolmentChanged(
        enrolment_id=e.id,
        client_id=e.client_id,
        practitioner_id=e.practitioner_id,
        revision=e.revision,
        active=e.active,
        schedule=e.schedule,  # type: ignore[arg-type]
        local_time=wall_time.fromisoformat(e.local_time),
        weekdays=[int(d) for d in e.weekdays.split(",") if d],
        days_after=e.days_after,
        until=e.until,  # type: ignore[arg-type]
        until_date=e.until_date,
        question=e.question,
    )


@api.get("/check-in-settings")
@require_role("practitioner", "admin")
def get_check_in_settings() -> Any:
    with runtime().db.sessions() as session:
        return jsonify(settings_json(session.get(CheckInSettings, PRACTICE)))


@api.put("/check-in-settings")
@require_role("admin")
def put_check_in_settings() -> Any:
    body = parse_body(CheckInSettingsBody)
    rt = runtime()
    with rt.db.transaction() as session:
        known = session.get(CheckInSettings, PRACTICE)
        before = settings_json(known) if known else None
        if known is None:
            known = CheckInSettings(id=PRACTICE, revision=0)
            session.add(known)
        known.revision += 1
        known.threshold = body.threshold
        known.crisis_words = json.dumps(body.crisis_words)
        known.safety_message = body.safety_message
        known.questions = json.dumps(body.questions)
        known.updated_at = rt.clock.now()
        session.flush()
        rt.emitter.emit(
            session,
            CheckInSettingsUpdated(
                revision=known.revision,
                threshold=known.threshold,
                crisis_words=body.crisis_words,
                safety_message=known.safety_message,
            ),
        )
        after = settings_json(known)
        audit(session, "check_in_settings.updated", "practice", PRACTICE, before, after)
    rt.outbox_written()
    return jsonify(after)


def _may_manage(session: Session, principal: Principal, client_id: str) -> None:
    """Admins, and a practitioner who sees (or saw) the client."""
    if principal.is_admin:
        return
    if principal.role != "practitioner" or not principal.practitioner_id:
        raise Problem(403, "Not allowed", "Check-ins are set by the client's practitioner.")
    sees = session.scalars(
        select(Appointment.id).where(
            Appointment.client_id == client_id,
            Appointment.practitioner_id == principal.practitioner_id,
        )
    ).first()
    if sees is None:
        raise Problem(403, "Not allowed", "Only the client's own practitioner sets check-ins.")


def enrol(client_id: str, body: EnrolmentBody, principal: Principal) -> schemas.CheckInEnrolment:
    """Enrol a client or change their check-ins; refused until the safety net is set."""
    rt = runtime()
    with rt.db.transaction() as session:
        client = session.get(Client, client_id)
        if client is None:
            raise not_found("client")
        _may_manage(session, principal, client_id)
        settings = settings_json(session.get(CheckInSettings, PRACTICE))
        if not settings["ready"]:
            raise conflict(
                "Check-ins cannot be enabled until an admin sets the practice's crisis words "
                "and safety message (PUT /api/v1/check-in-settings)."
            )
        question = body.question or settings["questions"][0]
        if question not in settings["questions"]:
            raise Problem(
                422,
                "Invalid request",
                "Choose one of the practice's check-in questions.",
                errors=[{"field": "question", "message": "not one of the practice's questions"}],
            )
        practitioner_id = (
            body.practitioner_id if principal.is_admin and body.practitioner_id else None
        ) or principal.practitioner_id
        if practitioner_id is None:
            raise Problem(
                422,
                "Invalid request",
                "Say whose client this is (practitioner_id).",
                errors=[{"field": "practitioner_id", "message": "required for an admin"}],
            )
        enrolment = session.scalars(
            select(CheckInEnrolment).where(CheckInEnrolment.client_id == client_id)
        ).first()
        before = enrolment_json(enrolment) if enrolment else None
        if enrolment is None:
            enrolment = CheckInEnrolment(id=str(uuid.uuid4()), client_id=client_id, revision=0)
            session.add(enrolment)
        enrolment.revision += 1
        enrolment.practitioner_id, enrolment.active = practitioner_id, True
        enrolment.schedule, enrolment.local_time = body.schedule, body.time.isoformat()
        enrolment.weekdays = ",".join(str(d) for d in sorted(set(body.weekdays)))
        enrolment.days_after, enrolment.until = body.days_after, body.until
        enrolment.until_date = body.until_date if body.until == "date" else None
        enrolment.question, enrolment.updated_at = question, rt.clock.now()
        session.flush()
        after = enrolment_json(enrolment)
        rt.emitter.emit(session, enrolment_event(enrolment))
        actor = (principal.user_id, principal.role)
        audit(session, "check_ins.enrolled", "client", client_id, before, after, actor=actor)
    rt.outbox_written()
    return after


def end(client_id: str, principal: Principal) -> schemas.CheckInEnrolment:
    rt = runtime()
    with rt.db.transaction() as session:
        _may_manage(session, principal, client_id)
        enrolment = session.scalars(
            select(CheckInEnrolment).where(CheckInEnrolment.client_id == client_id)
        ).first()
        if enrolment is None:
            raise not_found("check-in enrolment")
        before = enrolment_json(enrolment)
        if enrolment.active:
            enrolment.revision += 1
            enrolment.active, enrolment.updated_at = False, rt.clock.now()
            session.flush()
            rt.emitter.emit(session, enrolment_event(enrolment))
            actor = (principal.user_id, principal.role)
            after = enrolment_json(enrolment)
            audit(session, "check_ins.ended", "client", client_id, before, after, actor=actor)
        after = enrolment_json(enrolment)
    rt.outbox_written()
    return after


def enrolment_of(client_id: str) -> schemas.CheckInEnrolment | None:
    with runtime().db.sessions() as session:
        found = session.scalars(
            select(CheckInEnrolment).where(CheckInEnrolment.client_id == client_id)
        ).first()
        return enrolment_json(found) if found else None


@api.get("/clients/<client_id>/check-ins")
@require_role("practitioner", "admin")
def get_enrolment(client_id: str) -> Any:
    found = enrolment_of(client_id)
    if found is None:
        raise not_found("check-in enrolment")
    return jsonify(found)


@api.put("/clients/<client_id>/check-ins")
@require_role("practitioner", "admin")
def put_enrolment(client_id: str) -> Any:
    return jsonify(enrol(client_id, parse_body(EnrolmentBody), current_principal()))


@api.delete("/clients/<client_id>/check-ins")
@require_role("practitioner", "admin")
def delete_enrolment(client_id: str) -> Any:
    return jsonify(end(client_id, current_principal()))
