"""Practice settings and staff users (admins only change them)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Literal

from flask import jsonify
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from services.scheduler.api import schemas
from services.scheduler.api.common import api, audit
from services.scheduler.domain import is_time_zone
from services.scheduler.events import practice_updated
from services.scheduler.tables import Practice, Practitioner, StaffUser
from services.scheduler.validation import normalise_email, normalise_phone
from shared.auth import require_role
from shared.http import Problem, conflict, not_found, parse_body, parse_query
from shared.pagination import PageQuery, paginate
from shared.web import runtime

DESK_IDLE_DEFAULT = 30
DESK_IDLE_MIN = 2
DESK_IDLE_MAX = 12 * 60


class PracticeSettings(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    time_zone: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    cancellation_window_hours: float = Field(ge=0, le=24 * 14)
    phone: str | None = Field(default=None, max_length=40)
    address: str | None = Field(default=None, max_length=300)
    check_in_opens_minutes: int = Field(default=60, ge=0, le=12 * 60)
    # Whether clients may cancel through the self-service link in their messages.
    client_cancellation: bool = True
    # Off (the default): a practitioner sees only their own clients and sessions.
    practitioners_see_all: bool = False
    # The desk signs out after this many minutes without anyone using it.
    desk_idle_minutes: int = Field(default=DESK_IDLE_DEFAULT, ge=DESK_IDLE_MIN, le=DESK_IDLE_MAX)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return value.strip() if value and value.strip() else None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not is_time_zone(value):
            raise ValueError("is not an IANA time zone such as America/New_York")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalise_phone(value) if value and value.strip() else None


def practice_json(p: Practice) -> schemas.Practice:
    return {
        "name": p.name,
        "time_zone": p.time_zone,
        "currency": p.currency,
        "cancellation_window_hours": p.cancellation_window.total_seconds() / 3600,
        "phone": p.phone,
        "address": p.address,
        "check_in_opens_minutes": p.check_in_opens_minutes,
        "client_cancellation": p.client_cancellation,
        "practitioners_see_all": p.practitioners_see_all,
        "desk_idle_minutes": p.desk_idle_minutes,
        "revision": p.revision,
    }


@api.get("/practice")
def get_practice() -> Any:
    with runtime().db.sessions() as session:
        practice = session.scalars(select(Practice)).first()
        if practice is None:
            raise Problem(404, "Not set up", "The practice has not been set up yet.")
        return jsonify(practice_json(practice))


@api.put("/practice")
@require_role("admin")
def put_practice() -> Any:
    body = parse_body(PracticeSettings)
    rt = runtime()
    with rt.db.transaction() as session:
        practice = session.scalars(select(Practice)).first()
        before = practice_json(practice) if practice else None
        if practice is None:
            practice = Practice(id=str(uuid.uuid4()), revision=0)
            session.add(practice)
        practice.revision += 1
        practice.name = body.name
        practice.time_zone = body.time_zone
        practice.currency = body.currency
        practice.cancellation_window = timedelta(hours=body.cancellation_window_hours)
        practice.phone = body.phone
        practice.address = body.address
        practice.check_in_opens_minutes = body.check_in_opens_minutes
        practice.client_cancellation = body.client_cancellation
        practice.practitioners_see_all = body.practitioners_see_all
        practice.desk_idle_minutes = body.desk_idle_minutes
        session.flush()
        after = practice_json(practice)
        # The notifier and billing hear the practice's name, phone, address, zone and currency
        # from here, not from their own configuration.
        rt.emitter.emit(session, practice_updated(practice))
        audit(session, "practice.updated", "practice", practice.id, before, after)
    rt.outbox_written()
    return jsonify(after)


# -- staff users -----------------------------------------------------------------------------


class NewStaffUser(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    role: Literal["front_desk", "practitioner", "admin"]
    password: str = Field(min_length=10, max_length=200)
    practitioner_id: str | None = Field(default=None, max_length=36)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value).lower()


def staff_json(u: StaffUser) -> schemas.StaffUser:
    return {
        "id": u.id,
        "email": u.email,
        "name": u.name,
        "role": u.role,
        "practitioner_id": u.practitioner_id,
        "active": u.active,
    }


@api.get("/staff")
@require_role("admin")
def list_staff() -> Any:
    """Staff users by name, a page at a time."""
    query = parse_query(PageQuery)
    keys = (StaffUser.name, StaffUser.id)
    with runtime().db.sessions() as session:
        return jsonify(paginate(session, select(StaffUser), keys, query, staff_json))


@api.post("/staff")
@require_role("admin")
def create_staff() -> Any:
    body = parse_body(NewStaffUser)
    if body.role == "practitioner" and not body.practitioner_id:
        raise Problem(
            422,
            "Invalid request",
            "A practitioner's login needs the practitioner_id it belongs to.",
            errors=[{"field": "practitioner_id", "message": "required for the practitioner role"}],
        )
    with runtime().db.transaction() as session:
        if session.scalars(select(StaffUser).where(StaffUser.email == body.email)).first():
            raise conflict(f"There is already a staff user with the email {body.email}.")
        if body.practitioner_id and session.get(Practitioner, body.practitioner_id) is None:
            raise not_found("practitioner")
        user = StaffUser(
            id=str(uuid.uuid4()),
            email=body.email,
            name=body.name.strip(),
            role=body.role,
            password_hash=generate_password_hash(body.password),
            practitioner_id=body.practitioner_id,
            active=True,
        )
        session.add(user)
        session.flush()
        audit(session, "staff.created", "staff_user", user.id, None, staff_json(user))
    return jsonify(staff_json(user)), 201, {"Location": f"/api/v1/staff/{user.id}"}


@api.post("/staff/<user_id>/deactivate")
@require_role("admin")
def deactivate_staff(user_id: str) -> Any:
    with runtime().db.transaction() as session:
        user = session.get(StaffUser, user_id)
        if user is None:
            raise not_found("staff user")
        before = staff_json(user)
        if user.role == "admin" and user.active and _active_admins(session) <= 1:
            raise conflict(
                f"{user.name} is the practice's last active admin: nobody could manage staff "
                "afterwards. Make another staff user an admin first."
            )
        user.active = False
        session.flush()
        audit(session, "staff.deactivated", "staff_user", user.id, before, staff_json(user))
    return jsonify(staff_json(user))


def _active_admins(session: Session) -> int:
    # Locked so that two admins deactivating each other at once cannot both succeed.
    admins = session.scalars(
        select(StaffUser.id)
        .where(StaffUser.role == "admin", StaffUser.active.is_(True))
        .with_for_update()
    ).all()
    return len(admins)
