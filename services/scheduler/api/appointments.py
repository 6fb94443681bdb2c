"""Booking single appointments and reading them back."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import jsonify
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import bindparam, insert, or_, select
from sqlalchemy.orm import Session, make_transient_to_detached

from services.scheduler import access, domain, metrics, self_service
from services.scheduler.api import schemas
from services.scheduler.api.common import (
    api,
    appointment_json,
    audit,
    desk_rules,
    patch_body,
    retry_on_race,
)
from services.scheduler.events import appointment_event, appointment_facts
from services.scheduler.tables import (
    IDEMPOTENT_REQUESTS,
    Appointment,
    Client,
    Practitioner,
    ServiceType,
)
from services.scheduler.validation import Instant, JoinLink
from shared.auth import current_principal
from shared.contracts import Contract
from shared.contracts.appointments import AppointmentBooked, AppointmentLocationChanged
from shared.http import Problem, conflict, parse_body, parse_query
from shared.idempotency import replay_or_run
from shared.pagination import MAX_LIMIT, PageQuery, paginate
from shared.web import runtime


def _whole_minutes(value: datetime) -> datetime:
    if value.second or value.microsecond:
        raise ValueError("must be on a whole minute")
    return value


class BookAppointment(BaseModel):
    client_id: str = Field(min_length=1, max_length=36)
    practitioner_id: str = Field(min_length=1, max_length=36)
    service_type_id: str = Field(min_length=1, max_length=36)
    starts_at: Instant
    location: str | None = Field(default=None, max_length=300)
    video_url: JoinLink = None

    @field_validator("starts_at")
    @classmethod
    def _whole(cls, value: datetime) -> datetime:
        return _whole_minutes(value)


class AppointmentQuery(PageQuery):
    limit: int = Field(default=MAX_LIMIT, ge=1, le=MAX_LIMIT)
    starts_from: Instant | None = Field(default=None, alias="from")
    starts_to: Instant | None = Field(default=None, alias="to")
    practitioner_id: str | None = None
    client_id: str | None = None
    course_id: str | None = None
    status: str | None = None


# Built once: every booking runs these, and building a statement costs more than running it.
_BOOKING_PARTIES = (
    select(Client, Practitioner, ServiceType)
    .select_from(Client)
    .join(Practitioner, Practitioner.id == bindparam("practitioner_id"))
    .join(ServiceType, ServiceType.id == bindparam("service_type_id"))
    .where(Client.id == bindparam("client_id"))
)


def booking_parties(
    session: Session, client_id: str, practitioner_id: str, service_type_id: str
) -> tuple[Client, Practitioner, ServiceType]:
    """The three rows a booking needs, read in one round trip (a join of three primary-key
    lookups: one row when all exist, none when one is missing)."""
    found = session.execute(
        _BOOKING_PARTIES,
        {
            "client_id": client_id,
            "practitioner_id": practitioner_id,
            "service_type_id": service_type_id,
        },
    ).first()
    client, practitioner, service_type = (
        found
        if found is not None
        else (
            session.get(Client, client_id),
            session.get(Practitioner, practitioner_id),
            session.get(ServiceType, service_type_id),
        )
    )
    missing = [
        name
        for name, row in (
            ("client_id", client),
            ("practitioner_id", practitioner),
            ("service_type_id", service_type),
        )
        if row is None or not row.active
    ]
    hidden = client is not None and not access.may_see_client(session, client)
    if hidden and "client_id" not in missing:  # as if it did not exist
        missing.insert(0, "client_id")
    if missing:
        raise Problem(
            422,
            "Invalid request",
            "Unknown or inactive " + ", ".join(missing) + ".",
            errors=[{"field": m, "message": "not found"} for m in missing],
        )
    assert client is not None and practitioner is not None and service_type is not None
    access.require_own_calendar(session, practitioner.id)
    return client, practitioner, service_type


def refuse_past(starts_at: datetime, now: datetime, field: str = "starts_at") -> None:
    if starts_at <= now:
        raise Problem(
            422,
            "Invalid request",
            "A session can only be booked in the future.",
            errors=[{"field": field, "message": "must be in the future"}],
        )


# A new appointment is written by one INSERT built once rather than by the unit of work, whose
# flush costs more than the rest of the booking's statements; these are the columns a new
# appointment starts with besides those booking sets.
_INSERT_APPOINTMENT = insert(Appointment.metadata.tables[Appointment.__tablename__])
_NEW_APPOINTMENT_DEFAULTS: dict[str, object] = {
    "notes": None,
    "cancelled_by": None,
    "cancellation_reason": None,
    "late_cancellation": False,
    "cancelled_at": None,
    "reminder_status": None,
    "reminders_planned": 0,
    "reminders_not_planned": 0,
    "last_message": None,
    "confirmed_by": None,
    "invoice_status": None,
    "invoice_number": None,
}


def new_appointment(
    session: Session,
    *,
    client: Client,
    practitioner: Practitioner,
    service_type: ServiceType,
    wanted: domain.Interval,
    location: str | None,
    booked_by: str,
    now: datetime,
    course_id: str | None = None,
    video_url: str | None = None,
    emit: Callable[[Contract], object] | None = None,
    actor: tuple[str, str] | None = None,
) -> Appointment:
    """Insert a booked appointment, emit appointment.booked and audit it (caller checked
    overlaps; the database refuses any that slipped through). A view books as the signed-in
    user through the request's outbox; an event handler or a public page passes its own
    ``emit`` and ``actor``."""
    row = {
        "id": str(uuid.uuid4()),
        "sequence": 1,
        "status": "booked",
        "client_id": client.id,
        "practitioner_id": practitioner.id,
        "service_type_id": service_type.id,
        "starts_at": wanted.start,
        "ends_at": wanted.end,
        "time_zone": practitioner.time_zone,
        "location": location if location is not None else practitioner.location,
        "video_url": video_url if video_url is not None else practitioner.video_room_url,
        "course_id": course_id,
        "booked_by": booked_by,
        "created_at": now,
        "updated_at": now,
        **_NEW_APPOINTMENT_DEFAULTS,
    }
    session.flush()  # the caller's pending changes first, as before the appointment's INSERT
    session.execute(_INSERT_APPOINTMENT, row)
    # The row as it now is in the database, in the session as if loaded from it (a column
    # left out of ``row`` would be expired and read back on first use, never guessed).
    appointment = Appointment(**row)
    make_transient_to_detached(appointment)
    session.add(appointment)
    token = self_service.first_link(session, appointment)
    booked = AppointmentBooked.model_validate(
        {**appointment_facts(appointment, token), "course_change": course_id is not None}
    )
    if emit is None:
        runtime().emitter.emit(session, booked)
    else:
        emit(booked)
    audit(
        session,
        "appointment.booked",
        "appointment",
        appointment.id,
        None,
        appointment_json(appointment),
        actor=actor,
        at=now if actor else None,
    )
    return appointment


@api.post("/appointments")
def book_appointment() -> Any:
    body = parse_body(BookAppointment)
    rt = runtime()
    user = current_principal()
    now = rt.clock.now()
    with metrics.booking_meter() as outcome:

        def attempt() -> tuple[Any, bool]:
            with rt.db.transaction() as session:

                def book() -> tuple[schemas.Appointment, int]:
                    client, practitioner, service_type = booking_parties(
                        session, body.client_id, body.practitioner_id, body.service_type_id
                    )
                    outcome.service_type = service_type.name
                    refuse_past(body.starts_at, now)
                    wanted = domain.session_interval(body.starts_at, service_type.duration)
                    refuse_overlap(session, wanted, body.practitioner_id, body.client_id)
                    appointment = new_appointment(
                        session,
                        client=client,
                        practitioner=practitioner,
                        service_type=service_type,
                        wanted=wanted,
                        location=body.location,
                        booked_by=user.user_id,
                        now=now,
                        video_url=body.video_url,
                    )
                    outcome.booked = 1
                    return appointment_json(appointment), 201

                return replay_or_run(session, IDEMPOTENT_REQUESTS, user.user_id, now, book)

        response, replayed = retry_on_race(attempt)
        outcome.replayed = replayed
    if not replayed:
        rt.outbox_written()
    response.headers["Location"] = f"/api/v1/appointments/{response.json['id']}"
    return response


@dataclass(frozen=True, slots=True)
class Clash:
    """The active session a wanted time overlaps: what a 409 names."""

    id: str
    practitioner_id: str
    starts_at: datetime
    ends_at: datetime


_APPOINTMENT = Appointment.metadata.tables[Appointment.__tablename__].c
_OVERLAPPING = (
    select(
        _APPOINTMENT.id, _APPOINTMENT.practitioner_id, _APPOINTMENT.starts_at, _APPOINTMENT.ends_at
    )
    .where(
        _APPOINTMENT.status.in_(domain.ACTIVE_STATUSES),
        _APPOINTMENT.starts_at < bindparam("wanted_end"),
        _APPOINTMENT.ends_at > bindparam("wanted_start"),
        or_(
            _APPOINTMENT.practitioner_id == bindparam("practitioner_id"),
            _APPOINTMENT.client_id == bindparam("client_id"),
        ),
    )
    .order_by(_APPOINTMENT.starts_at)
)


def overlapping(
    session: Session,
    wanted: domain.Interval,
    practitioner_id: str,
    client_id: str,
    ignore: frozenset[str] = frozenset(),
) -> Clash | None:
    """The first active session of the practitioner or the client that overlaps ``wanted``
    (those in ``ignore`` aside), read as plain columns: there is nothing to change in it.
    Unflushed changes are written first, as a query through the ORM would (autoflush)."""
    session.flush()
    rows = session.execute(
        _OVERLAPPING,
        {
            "wanted_start": wanted.start,
            "wanted_end": wanted.end,
            "practitioner_id": practitioner_id,
            "client_id": client_id,
        },
    ).all()
    return next((Clash(*row) for row in rows if row.id not in ignore), None)


def conflict_problem(clash: Clash, practitioner_id: str, zone: str = "UTC") -> Problem:
    """409 naming the clash on the practice's clock; the fields keep the UTC instants."""
    who = "practitioner" if clash.practitioner_id == practitioner_id else "client"
    ends = clash.ends_at.astimezone(ZoneInfo(zone))
    return conflict(
        f"The {who} already has a session from {domain.local_when(clash.starts_at, zone)} "
        f"to {ends.strftime('%I').lstrip('0')}:{ends:%M %p} {ends.tzname()}.",
        conflicting_appointment_id=clash.id,
        conflicting_starts_at=clash.starts_at.isoformat(),
        conflicting_ends_at=clash.ends_at.isoformat(),
    )


def refuse_overlap(
    session: Session,
    wanted: domain.Interval,
    practitioner_id: str,
    client_id: str,
    ignore: frozenset[str] = frozenset(),
) -> None:
    clash = overlapping(session, wanted, practitioner_id, client_id, ignore)
    if clash is not None:
        raise conflict_problem(clash, practitioner_id, desk_rules(session).time_zone)


@api.get("/appointments/<appointment_id>")
def get_appointment(appointment_id: str) -> Any:
    with runtime().db.sessions() as session:
        appointment = access.visible_appointment(session, session.get(Appointment, appointment_id))
        return jsonify(appointment_json(appointment))


@api.get("/appointments")
def list_appointments() -> Any:
    """Appointments in start order, a page at a time (``limit``, ``cursor``)."""
    query = parse_query(AppointmentQuery)
    statement = select(Appointment)
    if query.starts_from:
        statement = statement.where(Appointment.starts_at >= query.starts_from)
    if query.starts_to:
        statement = statement.where(Appointment.starts_at < query.starts_to)
    if query.practitioner_id:
        statement = statement.where(Appointment.practitioner_id == query.practitioner_id)
    if query.client_id:
        statement = statement.where(Appointment.client_id == query.client_id)
    if query.course_id:
        statement = statement.where(Appointment.course_id == query.course_id)
    if query.status:
        statement = statement.where(Appointment.status == query.status)
    keys = (Appointment.starts_at, Appointment.id)
    with runtime().db.sessions() as session:
        statement = access.visible_appointments(session, statement)
        return jsonify(
            paginate(
                session, statement, keys, query, appointment_json, (datetime.fromisoformat, str)
            )
        )


class SessionPlace(BaseModel):
    location: str | None = Field(default=None, max_length=300)
    video_url: JoinLink = None


@api.patch("/appointments/<appointment_id>")
def change_place(appointment_id: str) -> Any:
    """Where a session takes place: its location or its video join link (null clears one).
    The client's next message and their feed carry the change."""
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        appointment = access.visible_appointment(
            session, session.get(Appointment, appointment_id, with_for_update=True)
        )
        current = {"location": appointment.location, "video_url": appointment.video_url}
        body = patch_body(SessionPlace, current)
        if appointment.status not in domain.ACTIVE_STATUSES:
            raise conflict(
                f"This session is {appointment.status.replace('_', ' ')}, so where it takes "
                "place can no longer change.",
                appointment_status=appointment.status,
            )
        if body.model_dump() != current:
            before = appointment_json(appointment)
            appointment.location, appointment.video_url = body.location, body.video_url
            appointment.sequence += 1
            appointment.updated_at = now
            session.flush()
            rt.emitter.emit(session, appointment_event(AppointmentLocationChanged, appointment))
            audit(
                session,
                "appointment.location_changed",
                "appointment",
                appointment.id,
                before,
                appointment_json(appointment),
            )
        result = appointment_json(appointment)
    rt.outbox_written()
    return jsonify(result)
