"""The scheduler's HTTP API: sign-in, reference data and appointments."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, jsonify
from pydantic import AwareDatetime, BaseModel, Field, field_validator
from sqlalchemy import select
from werkzeug.security import check_password_hash

from services.scheduler import domain
from services.scheduler.events import appointment_event, client_snapshot
from services.scheduler.tables import (
    Appointment,
    Client,
    IdempotentRequest,
    Practitioner,
    ServiceType,
    StaffUser,
)
from services.scheduler.validation import ClientFields
from shared.auth import Principal, current_principal, issue_token, public
from shared.contracts.appointments import AppointmentBooked
from shared.http import Problem, conflict, not_found, parse_body, parse_query
from shared.idempotency import replay_or_run
from shared.web import runtime

api = Blueprint("scheduler_api", __name__, url_prefix="/api/v1")
TOKEN_TTL = timedelta(hours=12)


class SignIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=200)


@api.post("/auth/token")
@public
def sign_in() -> Any:
    body = parse_body(SignIn)
    rt = runtime()
    with rt.db.sessions() as session:
        user = session.scalars(
            select(StaffUser).where(StaffUser.email == body.email.strip().lower())
        ).first()
    if (
        user is None
        or not user.active
        or not check_password_hash(user.password_hash, body.password)
    ):
        raise Problem(401, "Sign-in failed", "The email or password is not right.")
    principal = Principal(user.id, user.email, user.role, user.name, user.practitioner_id)
    token = issue_token(rt.settings.secret_key, principal, rt.clock.now(), TOKEN_TTL)
    return jsonify(
        access_token=token,
        token_type="Bearer",  # noqa: S106 - the OAuth token type, not a secret
        expires_in=int(TOKEN_TTL.total_seconds()),
        role=user.role,
        name=user.name,
    )


# -- reference data ------------------------------------------------------------------------


@api.get("/practitioners")
def list_practitioners() -> Any:
    with runtime().db.sessions() as session:
        rows = session.scalars(select(Practitioner).order_by(Practitioner.display_name))
        return jsonify(
            items=[
                {
                    "id": p.id,
                    "display_name": p.display_name,
                    "time_zone": p.time_zone,
                    "active": p.active,
                }
                for p in rows
            ]
        )


@api.get("/service-types")
def list_service_types() -> Any:
    with runtime().db.sessions() as session:
        rows = session.scalars(select(ServiceType).order_by(ServiceType.name))
        return jsonify(
            items=[
                {
                    "id": s.id,
                    "name": s.name,
                    "cpt_code": s.cpt_code,
                    "duration": _iso_duration(s.duration),
                    "billable": s.billable,
                }
                for s in rows
            ]
        )


@api.get("/clients")
def list_clients() -> Any:
    with runtime().db.sessions() as session:
        rows = session.scalars(select(Client).order_by(Client.last_name, Client.first_name))
        return jsonify(items=[client_json(c) for c in rows])


@api.post("/clients")
def create_client() -> Any:
    body = parse_body(ClientFields)
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        client = Client(id=str(uuid.uuid4()), created_at=now, **body.columns())
        session.add(client)
        session.flush()
        rt.emitter.emit(session, client_snapshot(client, new=True))
    rt.outbox_written()
    return jsonify(client_json(client)), 201, {"Location": f"/api/v1/clients/{client.id}"}


@api.get("/clients/<client_id>")
def get_client(client_id: str) -> Any:
    with runtime().db.sessions() as session:
        client = session.get(Client, client_id)
        if client is None:
            raise not_found("client")
        return jsonify(client_json(client))


# -- appointments --------------------------------------------------------------------------


class BookAppointment(BaseModel):
    client_id: str = Field(min_length=1, max_length=36)
    practitioner_id: str = Field(min_length=1, max_length=36)
    service_type_id: str = Field(min_length=1, max_length=36)
    starts_at: AwareDatetime
    location: str | None = Field(default=None, max_length=300)

    @field_validator("starts_at")
    @classmethod
    def _whole_minutes(cls, value: datetime) -> datetime:
        if value.second or value.microsecond:
            raise ValueError("must be on a whole minute")
        return value


class AppointmentQuery(BaseModel):
    starts_from: AwareDatetime | None = Field(default=None, alias="from")
    starts_to: AwareDatetime | None = Field(default=None, alias="to")
    practitioner_id: str | None = None
    client_id: str | None = None


@api.post("/appointments")
def book_appointment() -> Any:
    body = parse_body(BookAppointment)
    rt = runtime()
    user = current_principal()
    now = rt.clock.now()
    with rt.db.transaction() as session:

        def book() -> tuple[dict[str, Any], int]:
            client = session.get(Client, body.client_id)
            practitioner = session.get(Practitioner, body.practitioner_id)
            service_type = session.get(ServiceType, body.service_type_id)
            missing = [
                name
                for name, row in (
                    ("client_id", client),
                    ("practitioner_id", practitioner),
                    ("service_type_id", service_type),
                )
                if row is None or not row.active
            ]
            if missing:
                raise Problem(
                    422,
                    "Invalid request",
                    "Unknown or inactive " + ", ".join(missing) + ".",
                    errors=[{"field": m, "message": "not found"} for m in missing],
                )
            assert practitioner is not None and service_type is not None
            if body.starts_at <= now:
                raise Problem(
                    422,
                    "Invalid request",
                    "A session can only be booked in the future.",
                    errors=[{"field": "starts_at", "message": "must be in the future"}],
                )
            wanted = domain.session_interval(body.starts_at, service_type.duration)
            _refuse_overlap(session, wanted, body.practitioner_id, body.client_id)
            appointment = Appointment(
                id=str(uuid.uuid4()),
                sequence=1,
                status="booked",
                client_id=body.client_id,
                practitioner_id=body.practitioner_id,
                service_type_id=body.service_type_id,
                starts_at=wanted.start,
                ends_at=wanted.end,
                time_zone=practitioner.time_zone,
                location=body.location,
                booked_by=user.user_id,
                created_at=now,
                updated_at=now,
            )
            session.add(appointment)
            session.flush()
            rt.emitter.emit(session, appointment_event(AppointmentBooked, appointment))
            return appointment_json(appointment), 201

        response, replayed = replay_or_run(
            session, IdempotentRequest.__table__, user.user_id, now, book
        )
    if not replayed:
        rt.outbox_written()
    response.headers["Location"] = f"/api/v1/appointments/{response.json['id']}"  # type: ignore[index]
    return response


def _refuse_overlap(
    session: Any, wanted: domain.Interval, practitioner_id: str, client_id: str
) -> None:
    rows = session.scalars(
        select(Appointment).where(
            Appointment.status.in_(domain.ACTIVE_STATUSES),
            Appointment.starts_at < wanted.end,
            Appointment.ends_at > wanted.start,
            (Appointment.practitioner_id == practitioner_id) | (Appointment.client_id == client_id),
        )
    ).all()
    if rows:
        clash = rows[0]
        who = "practitioner" if clash.practitioner_id == practitioner_id else "client"
        raise conflict(
            f"The {who} already has a session from {clash.starts_at.isoformat()} "
            f"to {clash.ends_at.isoformat()}.",
            conflicting_appointment_id=clash.id,
            conflicting_starts_at=clash.starts_at.isoformat(),
            conflicting_ends_at=clash.ends_at.isoformat(),
        )


@api.get("/appointments/<appointment_id>")
def get_appointment(appointment_id: str) -> Any:
    with runtime().db.sessions() as session:
        appointment = session.get(Appointment, appointment_id)
        if appointment is None:
            raise not_found("appointment")
        return jsonify(appointment_json(appointment))


@api.get("/appointments")
def list_appointments() -> Any:
    query = parse_query(AppointmentQuery)
    statement = select(Appointment).order_by(Appointment.starts_at).limit(1000)
    if query.starts_from:
        statement = statement.where(Appointment.starts_at >= query.starts_from)
    if query.starts_to:
        statement = statement.where(Appointment.starts_at < query.starts_to)
    if query.practitioner_id:
        statement = statement.where(Appointment.practitioner_id == query.practitioner_id)
    if query.client_id:
        statement = statement.where(Appointment.client_id == query.client_id)
    with runtime().db.sessions() as session:
        return jsonify(items=[appointment_json(a) for a in session.scalars(statement)])


# -- representations -----------------------------------------------------------------------


def appointment_json(a: Appointment) -> dict[str, Any]:
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
        "reminder_status": a.reminder_status,
        "reminders_planned": a.reminders_planned,
        "invoice_status": a.invoice_status,
        "invoice_number": a.invoice_number,
    }


def client_json(c: Client) -> dict[str, Any]:
    return {
        "id": c.id,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "email": c.email,
        "phone": c.phone,
        "time_zone": c.time_zone,
        "preferred_channels": [x for x in c.preferred_channels.split(",") if x],
        "sms_consent": c.sms_consent,
        "email_consent": c.email_consent,
        "active": c.active,
    }


def _iso_duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes or not hours else "")
