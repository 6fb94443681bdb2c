"""What the scheduler's API modules share: the blueprint, representations, audit and PATCH."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import Blueprint, request
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.scheduler import domain
from services.scheduler.api import schemas
from services.scheduler.metrics import ACTIVE_APPOINTMENTS, active_counts
from services.scheduler.tables import (
    AUDIT,
    Appointment,
    Client,
    Practice,
    Practitioner,
    ServiceType,
)
from shared.auth import current_principal
from shared.http import Problem, conflict, json_body
from shared.web import runtime

api = Blueprint("scheduler_api", __name__, url_prefix="/api/v1")


@api.record_once
def _count_active_appointments(state: Any) -> None:
    rt = state.app.extensions["rapport"]
    ACTIVE_APPOINTMENTS.use(active_counts(rt.db, rt.clock.now))


M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

# PostgreSQL's answers when a concurrent transaction committed first: an overlapping active
# appointment (the exclusion constraints of migration 0003) or the same Idempotency-Key.
RACE_STATES = frozenset({"23P01", "23505"})


def retry_on_race(run: Callable[[], T], attempts: int = 3) -> T:
    """Run a whole transaction; when the database refused it because a concurrent one won,
    run it again: the checks then see the winner and answer the same friendly 409 (or the
    stored response of the same Idempotency-Key) as if the requests had come one by one.

    A 409 to a request with an Idempotency-Key is also tried once more: the session it
    clashed with may be the one its own first try (a concurrent retry) just committed, whose
    stored answer is then visible and replayed."""
    keyed = bool(request.headers.get("Idempotency-Key", "").strip())
    for attempt in range(1, attempts + 1):
        try:
            return run()
        except IntegrityError as exc:
            if getattr(exc.orig, "sqlstate", None) not in RACE_STATES:
                raise
            if attempt == attempts:
                raise conflict(
                    "Another booking changed this time just now; look at the calendar again."
                ) from exc
        except Problem as problem:
            if problem.status != 409 or not keyed or attempt == attempts:
                raise
    raise AssertionError("unreachable")


def audit(
    session: Session,
    action: str,
    entity: str,
    entity_id: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str | None = None,
    actor: tuple[str, str] | None = None,
    at: datetime | None = None,
) -> None:
    """Write who did what to which row, in the caller's transaction (an event handler passes
    its own ``actor`` and ``at``; a view's default is the signed-in user and now)."""
    if actor is None:
        user = current_principal()
        actor = (user.user_id, user.role)
    AUDIT.record(
        session,
        at=at or runtime().clock.now(),
        actor_id=actor[0],
        actor_role=actor[1],
        action=action,
        entity=entity,
        entity_id=entity_id,
        before=before,
        after=after,
        reason=reason,
    )


def patch_body(model: type[M], current: Mapping[str, Any]) -> M:
    """A PATCH body merged over the current values (the model's fields of ``current``, e.g.
    the row's representation), validated as a whole (422 otherwise)."""
    if not request.is_json:
        raise Problem(415, "Unsupported media type", "Send the request body as application/json.")
    payload = json_body()
    if not isinstance(payload, dict):
        raise Problem(400, "Malformed request", "The request body must be a JSON object.")
    unknown = sorted(set(payload) - set(model.model_fields))
    if unknown:
        raise Problem(
            422,
            "Invalid request",
            "These fields cannot be changed here: " + ", ".join(unknown) + ".",
            errors=[{"field": f, "message": "unknown field"} for f in unknown],
        )
    try:
        fields = {k: v for k, v in current.items() if k in model.model_fields}
        return model.model_validate({**fields, **payload})
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise Problem(422, "Invalid request", detail, errors=errors) from exc


def require_practitioner_access(practitioner_id: str) -> None:
    """Admins manage every practitioner's schedule; a practitioner manages their own."""
    user = current_principal()
    if user.is_admin or (user.role == "practitioner" and user.practitioner_id == practitioner_id):
        return
    raise Problem(
        403, "Not allowed", "Only an admin or the practitioner themself can change this schedule."
    )


# -- representations -----------------------------------------------------------------------


def appointment_json(a: Appointment) -> schemas.Appointment:
    return {
        "id": a.id,
        "sequence": a.sequence,
        "status": a.status,
        "client_id": a.client_id,
        "practitioner_id": a.practitioner_id,
        "service_type_id": a.service_type_id,
        "starts_at": a.starts_at.isoformat(),
        "ends_at": a.ends_at.isoformat(),
        "time_zone": a.time_zone,
        "course_id": a.course_id,
        "location": a.location,
        "video_url": a.video_url,
        "reminder_status": a.reminder_status,
        "reminders_planned": a.reminders_planned,
        "reminders_not_planned": a.reminders_not_planned or 0,
        "last_message": a.last_message,
        "confirmed_by": a.confirmed_by,
        "invoice_status": a.invoice_status,
        "invoice_number": a.invoice_number,
        "cancelled_by": a.cancelled_by,
        "cancellation_reason": a.cancellation_reason,
        "late_cancellation": bool(a.late_cancellation),
    }


def client_json(c: Client) -> schemas.Client:
    return {
        "id": c.id,
        "revision": c.revision,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "email": c.email,
        "phone": c.phone,
        "time_zone": c.time_zone,
        "locale": c.locale,
        "preferred_channels": [x for x in c.preferred_channels.split(",") if x],
        "sms_consent": c.sms_consent,
        "email_consent": c.email_consent,
        "active": c.active,
        "assigned_practitioner_id": c.assigned_practitioner_id,
    }


def practitioner_json(p: Practitioner) -> schemas.Practitioner:
    return {
        "id": p.id,
        "revision": p.revision,
        "display_name": p.display_name,
        "email": p.email,
        "time_zone": p.time_zone,
        "buffer_minutes": p.buffer_minutes,
        "location": p.location,
        "video_room_url": p.video_room_url,
        "active": p.active,
    }


def service_type_json(s: ServiceType) -> schemas.ServiceType:
    return {
        "id": s.id,
        "revision": s.revision,
        "name": s.name,
        "cpt_code": s.cpt_code,
        "duration": iso_duration(s.duration),
        "duration_minutes": int(s.duration.total_seconds() // 60),
        "billable": s.billable,
        "active": s.active,
    }


def iso_duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes or not hours else "")


def desk_rules(session: Session) -> domain.DeskRules:
    """The practice's zone and check-in window (UTC and an hour before it is set up)."""
    practice = session.scalars(select(Practice)).first()
    if practice is None:
        return domain.DeskRules()
    return domain.DeskRules(practice.time_zone, timedelta(minutes=practice.check_in_opens_minutes))
