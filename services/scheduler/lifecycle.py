"""Applying one lifecycle step to an appointment, the same way from a view or a handler: the
new status (or TransitionRefused), ``sequence`` + 1, its event, and an audit entry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from services.scheduler import domain, refill
from services.scheduler.api.common import appointment_json
from services.scheduler.events import appointment_event
from services.scheduler.tables import AUDIT, Appointment
from shared.contracts.appointments import AppointmentCancelled, AppointmentFacts


def apply(
    session: Session,
    appointment: Appointment,
    action: str,
    event: type[AppointmentFacts],
    *,
    now: datetime,
    emit: Callable[[AppointmentFacts], Any],
    actor: tuple[str, str],
    changes: dict[str, Any] | None = None,
    audit_reason: str | None = None,
    rules: domain.DeskRules = domain.DeskRules(),
    **extra: object,
) -> None:
    """Raises domain.TransitionRefused (changing nothing) when the status does not allow it."""
    status = domain.next_status(
        action, appointment.status, starts_at=appointment.starts_at, now=now, rules=rules
    )
    before = appointment_json(appointment)
    for name, value in (changes or {}).items():
        setattr(appointment, name, value)
    appointment.status = status
    appointment.sequence += 1
    appointment.updated_at = now
    session.flush()
    contract = appointment_event(event, appointment, **extra)
    emit(contract)
    AUDIT.record(
        session,
        at=now,
        actor_id=actor[0],
        actor_role=actor[1],
        action=contract.TYPE,
        entity="appointment",
        entity_id=appointment.id,
        before=before,
        after=appointment_json(appointment),
        reason=audit_reason,
    )


def cancel(
    session: Session,
    appointment: Appointment,
    *,
    cancelled_by: str,
    reason: str,
    window: timedelta,
    now: datetime,
    emit: Callable[[AppointmentFacts], Any],
    actor: tuple[str, str],
    course_change: bool = False,
) -> None:
    """Cancel one session, the desk's way and the client's: a client cancelling inside the
    practice's cancellation window cancels late (which billing charges as a late fee)."""
    late = cancelled_by == "client" and domain.is_late_cancellation(
        appointment.starts_at, now, window
    )
    apply(
        session,
        appointment,
        "cancel",
        AppointmentCancelled,
        now=now,
        emit=emit,
        actor=actor,
        changes={
            "cancelled_by": cancelled_by,
            "cancellation_reason": reason,
            "late_cancellation": late,
            "cancelled_at": now,
        },
        audit_reason=reason,
        cancelled_by=cancelled_by,
        reason=reason,
        late=late,
        course_change=course_change,
    )
    refill.record_opening(
        session,
        appointment.practitioner_id,
        appointment.starts_at,
        appointment.ends_at,
        "cancelled",
        now,
        appointment.id,
    )
