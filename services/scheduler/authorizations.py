"""What a client's insurance authorization says about a course being booked: how many
authorized sessions remain, and a warning (never a refusal) for each session outside its dates
or beyond its count. Read from the scheduler's own copy of billing's authorizations."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.scheduler.tables import Appointment, AuthorizationView, ServiceType

if TYPE_CHECKING:  # the API imports this module
    from services.scheduler.api import schemas

# Booked but not yet attended: holds a unit that billing has not counted yet.
HOLDING = ("booked", "confirmed")


def authorization_warnings(
    remaining: int, valid_from: date, valid_to: date, session_days: list[date]
) -> list[tuple[int, str]]:
    """(session number, reason) for each session the authorization will not cover: outside
    its dates, or beyond the sessions that remain (taken in date order)."""
    warnings = []
    left = remaining
    for number, day in enumerate(session_days, start=1):
        if not valid_from <= day <= valid_to:
            warnings.append((number, "outside_dates"))
        elif left <= 0:
            warnings.append((number, "beyond_count"))
        else:
            left -= 1
    return warnings


def course_authorization(
    session: Session,
    client_id: str,
    service_type: ServiceType,
    starts: list[datetime],
    zone: str,
    now: datetime,
) -> schemas.CourseAuthorization | None:
    """The authorization covering this course (the client's, for the service's CPT code, still
    valid on the first session), with what remains and a warning per uncovered session."""
    if not starts or service_type.cpt_code is None:
        return None
    tz = ZoneInfo(zone)
    days = [start.astimezone(tz).date() for start in starts]
    views = session.scalars(
        select(AuthorizationView)
        .where(AuthorizationView.client_id == client_id, AuthorizationView.valid_to >= days[0])
        .order_by(AuthorizationView.valid_from)
    ).all()
    view = next((v for v in views if service_type.cpt_code in json.loads(v.cpt_codes)), None)
    if view is None:
        return None
    codes = json.loads(view.cpt_codes)
    held = session.scalar(
        select(func.count())
        .select_from(Appointment)
        .join(ServiceType, ServiceType.id == Appointment.service_type_id)
        .where(
            Appointment.client_id == client_id,
            Appointment.status.in_(HOLDING),
            Appointment.starts_at > now,
            ServiceType.cpt_code.in_(codes),
        )
    )
    remaining = max(view.sessions_authorized - view.units_used - int(held or 0), 0)
    warnings = authorization_warnings(remaining, view.valid_from, view.valid_to, days)
    return {
        "authorization_id": view.authorization_id,
        "payer": view.payer,
        "number": view.number,
        "sessions_authorized": view.sessions_authorized,
        "valid_from": view.valid_from.isoformat(),
        "valid_to": view.valid_to.isoformat(),
        "remaining": remaining,
        "warnings": [
            {
                "session": number,
                "starts_at": starts[number - 1].astimezone(tz).isoformat(),
                "reason": reason,
                "message": _message(number, days[number - 1], reason, view),
            }
            for number, reason in warnings
        ],
    }


def _message(number: int, day: date, reason: str, view: AuthorizationView) -> str:
    who = f"{view.payer} authorization {view.number}"
    if reason == "outside_dates":
        return (
            f"Session {number} on {day.isoformat()} is outside {who} "
            f"({view.valid_from.isoformat()} to {view.valid_to.isoformat()})."
        )
    return (
        f"Session {number} on {day.isoformat()} is beyond the {view.sessions_authorized} "
        f"sessions {who} covers."
    )
