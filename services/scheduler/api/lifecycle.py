"""An appointment's life after booking: confirm, check in, complete, no-show, cancel and
reschedule (one session or the rest of its course). Each change raises the appointment's
``sequence``, emits its event through the outbox and is audited; an action the status does not
allow answers 409 with the reason."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from flask import jsonify
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.scheduler import access, domain, lifecycle, refill
from services.scheduler.api import schemas
from services.scheduler.api.appointments import refuse_overlap, refuse_past
from services.scheduler.api.common import api, appointment_json, desk_rules, retry_on_race
from services.scheduler.events import course_event
from services.scheduler.tables import Appointment, Practice
from services.scheduler.validation import Instant
from shared.auth import current_principal
from shared.contracts.appointments import (
    AppointmentCheckedIn,
    AppointmentCompleted,
    AppointmentConfirmed,
    AppointmentFacts,
    AppointmentNoShow,
    AppointmentRescheduled,
    CourseCancelled,
    CourseRescheduled,
)
from shared.http import Problem, conflict, parse_body
from shared.web import runtime

SIMPLE_ACTIONS: dict[str, tuple[str, type[AppointmentFacts]]] = {
    "confirm": ("confirm", AppointmentConfirmed),
    "check-in": ("check_in", AppointmentCheckedIn),
    "complete": ("complete", AppointmentCompleted),
    "no-show": ("no_show", AppointmentNoShow),
}


def locked(session: Session, appointment_id: str) -> Appointment:
    """The appointment, locked for this transaction on PostgreSQL (SQLite transactions are
    already serialized), so two desks cannot both act on its old status."""
    return access.visible_appointment(
        session, session.get(Appointment, appointment_id, with_for_update=True)
    )


def check_allowed(appointment: Appointment, action: str, now: datetime) -> str:
    """The status ``action`` leads to, or a 409 problem saying why it is not allowed."""
    try:
        return domain.next_status(
            action, appointment.status, starts_at=appointment.starts_at, now=now
        )
    except domain.TransitionRefused as exc:
        raise conflict(str(exc), appointment_status=appointment.status) from exc


def step(
    session: Session,
    appointment: Appointment,
    action: str,
    event: type[AppointmentFacts],
    now: datetime,
    **kw: Any,
) -> None:
    """One lifecycle step from the API: as the signed-in user, 409 when not allowed."""
    user = current_principal()
    rt = runtime()
    try:
        lifecycle.apply(
            session,
            appointment,
            action,
            event,
            now=now,
            emit=lambda contract: rt.emitter.emit(session, contract),
            actor=(user.user_id, user.role),
            **kw,
        )
    except domain.TransitionRefused as exc:
        raise conflict(str(exc), appointment_status=appointment.status) from exc


def _simple(appointment_id: str, action: str) -> Any:
    action_name, event = SIMPLE_ACTIONS[action]
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        appointment = locked(session, appointment_id)
        changes = {"confirmed_by": "desk"} if action == "confirm" else None
        step(
            session,
            appointment,
            action_name,
            event,
            now,
            rules=desk_rules(session),
            changes=changes,
        )
        body = appointment_json(appointment)
    rt.outbox_written()
    return jsonify(body)


@api.post("/appointments/<appointment_id>/confirm")
def confirm_appointment(appointment_id: str) -> Any:
    return _simple(appointment_id, "confirm")


@api.post("/appointments/<appointment_id>/check-in")
def check_in_appointment(appointment_id: str) -> Any:
    return _simple(appointment_id, "check-in")


@api.post("/appointments/<appointment_id>/complete")
def complete_appointment(appointment_id: str) -> Any:
    return _simple(appointment_id, "complete")


@api.post("/appointments/<appointment_id>/no-show")
def no_show_appointment(appointment_id: str) -> Any:
    return _simple(appointment_id, "no-show")


# -- cancel ----------------------------------------------------------------------------------


class CancelAppointment(BaseModel):
    cancelled_by: Literal["client", "practice"]
    reason: str = Field(min_length=1, max_length=500)
    scope: Literal["this", "rest_of_course"] = "this"

    @field_validator("reason")
    @classmethod
    def _strip(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


def _course_from(session: Session, appointment: Appointment, scope: str) -> list[Appointment]:
    """The appointment alone, or it and the later active sessions of its course."""
    if scope == "this":
        return [appointment]
    if appointment.course_id is None:
        raise Problem(
            422,
            "Invalid request",
            "This session is not part of a course; use scope 'this'.",
            errors=[{"field": "scope", "message": "not part of a course"}],
        )
    later = session.scalars(
        select(Appointment)
        .where(
            Appointment.course_id == appointment.course_id,
            Appointment.starts_at > appointment.starts_at,
            Appointment.status.in_(domain.ACTIVE_STATUSES),
        )
        .order_by(Appointment.starts_at)
        .with_for_update()
    ).all()
    return [appointment, *later]


@api.post("/appointments/<appointment_id>/cancel")
def cancel_appointment(appointment_id: str) -> Any:
    body = parse_body(CancelAppointment)
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        practice = session.scalars(select(Practice)).first()
        window = practice.cancellation_window if practice else timedelta(0)
        first = locked(session, appointment_id)
        sessions = _course_from(session, first, body.scope)
        for appointment in sessions:
            check_allowed(appointment, "cancel", now)
        user = current_principal()
        for appointment in sessions:
            try:
                lifecycle.cancel(
                    session,
                    appointment,
                    cancelled_by=body.cancelled_by,
                    reason=body.reason,
                    window=window,
                    now=now,
                    emit=lambda contract: rt.emitter.emit(session, contract),
                    actor=(user.user_id, user.role),
                    course_change=body.scope == "rest_of_course",
                )
            except domain.TransitionRefused as exc:
                raise conflict(str(exc), appointment_status=appointment.status) from exc
        if body.scope == "rest_of_course":
            rt.emitter.emit(
                session,
                course_event(CourseCancelled, sessions, cancelled_by=body.cancelled_by),
            )
        items = [appointment_json(a) for a in sessions]
    rt.outbox_written()
    answer: schemas.CancelledAppointment = {**items[0], "cancelled": items}
    return jsonify(answer)


# -- reschedule ------------------------------------------------------------------------------


class RescheduleAppointment(BaseModel):
    starts_at: Instant
    scope: Literal["this", "rest_of_course"] = "this"
    reason: str | None = Field(default=None, max_length=500)

    @field_validator("starts_at")
    @classmethod
    def _whole(cls, value: datetime) -> datetime:
        if value.second or value.microsecond:
            raise ValueError("must be on a whole minute")
        return value


@api.post("/appointments/<appointment_id>/reschedule")
def reschedule_appointment(appointment_id: str) -> Any:
    body = parse_body(RescheduleAppointment)
    rt = runtime()
    now = rt.clock.now()

    def attempt() -> list[schemas.Appointment]:
        with rt.db.transaction() as session:
            first = locked(session, appointment_id)
            sessions = _course_from(session, first, body.scope)
            for appointment in sessions:
                check_allowed(appointment, "reschedule", now)
            refuse_past(body.starts_at, now)
            moves: list[tuple[Appointment, domain.Interval]] = []
            for appointment in sessions:
                start = domain.shift_wall_clock(
                    appointment.starts_at, first.starts_at, body.starts_at, appointment.time_zone
                )
                moves.append((appointment, domain.Interval(start, start + _length(appointment))))
            previous_starts: dict[str, object] = {a.id: a.starts_at for a in sessions}
            moving = frozenset(a.id for a in sessions)
            for appointment, wanted in moves:
                refuse_overlap(
                    session, wanted, appointment.practitioner_id, appointment.client_id, moving
                )
            # Move in the direction of travel, one row at a time, so no two of the course's own
            # sessions ever overlap on the way (the database checks every row as it changes).
            later = body.starts_at > first.starts_at
            for appointment, wanted in sorted(moves, key=lambda m: m[0].starts_at, reverse=later):
                previous, previous_end = appointment.starts_at, appointment.ends_at
                step(
                    session,
                    appointment,
                    "reschedule",
                    AppointmentRescheduled,
                    now,
                    changes={
                        "starts_at": wanted.start,
                        "ends_at": wanted.end,
                        "confirmed_by": None,
                    },
                    audit_reason=body.reason,
                    previous_starts_at=previous,
                    course_change=body.scope == "rest_of_course",
                )
                refill.record_opening(
                    session,
                    appointment.practitioner_id,
                    previous,
                    previous_end,
                    "rescheduled",
                    now,
                    appointment.id,
                )
            if body.scope == "rest_of_course":
                moved = [a for a, _ in moves]
                rt.emitter.emit(
                    session, course_event(CourseRescheduled, moved, previous=previous_starts)
                )
            return [appointment_json(a) for a, _ in moves]

    items = retry_on_race(attempt)
    rt.outbox_written()
    answer: schemas.RescheduledAppointment = {**items[0], "rescheduled": items}
    return jsonify(answer)


def _length(appointment: Appointment) -> timedelta:
    return appointment.ends_at - appointment.starts_at
