"""Reference data: practitioners (with their weekly hours, time off and buffer), clients and
service types. Every change is audited and published with the next revision."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any, Literal

from flask import jsonify
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import Select, and_, delete, func, or_, select

from services.scheduler import access, refill
from services.scheduler.api import schemas
from services.scheduler.api.common import (
    api,
    audit,
    client_json,
    patch_body,
    practitioner_json,
    require_practitioner_access,
    service_type_json,
)
from services.scheduler.domain import is_time_zone
from services.scheduler.events import client_snapshot, practitioner_snapshot, service_type_snapshot
from services.scheduler.tables import Client, Practitioner, ServiceType, TimeOff, WorkingHours
from services.scheduler.validation import ClientFields, Instant, JoinLink, normalise_email
from shared.auth import current_principal, require_role
from shared.http import Problem, not_found, parse_body, parse_query
from shared.pagination import MAX_LIMIT, PageQuery, paginate
from shared.web import runtime

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


# -- practitioners ---------------------------------------------------------------------------


class PractitionerFields(BaseModel):
    display_name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    time_zone: str
    buffer_minutes: int = Field(default=0, ge=0, le=240)
    location: str | None = Field(default=None, max_length=300)
    video_room_url: JoinLink = None
    active: bool = True

    @field_validator("display_name")
    @classmethod
    def _strip(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return normalise_email(value) if value and value.strip() else None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not is_time_zone(value):
            raise ValueError("is not an IANA time zone such as America/New_York")
        return value


def _practitioner(session: Any, practitioner_id: str) -> Practitioner:
    practitioner = session.get(Practitioner, practitioner_id)
    if practitioner is None:
        raise not_found("practitioner")
    return practitioner


@api.get("/practitioners")
def list_practitioners() -> Any:
    """Practitioners by name, a page at a time."""
    query = parse_query(PageQuery)
    keys = (Practitioner.display_name, Practitioner.id)
    with runtime().db.sessions() as session:
        return jsonify(paginate(session, select(Practitioner), keys, query, practitioner_json))


@api.post("/practitioners")
@require_role("admin")
def create_practitioner() -> Any:
    body = parse_body(PractitionerFields)
    rt = runtime()
    with rt.db.transaction() as session:
        practitioner = Practitioner(id=str(uuid.uuid4()), revision=1, **body.model_dump())
        session.add(practitioner)
        session.flush()
        rt.emitter.emit(session, practitioner_snapshot(practitioner, new=True))
        audit(
            session,
            "practitioner.registered",
            "practitioner",
            practitioner.id,
            None,
            practitioner_json(practitioner),
        )
    rt.outbox_written()
    return (
        jsonify(practitioner_json(practitioner)),
        201,
        {"Location": f"/api/v1/practitioners/{practitioner.id}"},
    )


@api.get("/practitioners/<practitioner_id>")
def get_practitioner(practitioner_id: str) -> Any:
    with runtime().db.sessions() as session:
        practitioner = _practitioner(session, practitioner_id)
        found: schemas.PractitionerWithHours = {
            **practitioner_json(practitioner),
            "working_hours": _hours_json(session, practitioner_id),
        }
        return jsonify(found)


@api.patch("/practitioners/<practitioner_id>")
def update_practitioner(practitioner_id: str) -> Any:
    require_practitioner_access(practitioner_id)
    rt = runtime()
    with rt.db.transaction() as session:
        practitioner = _practitioner(session, practitioner_id)
        before = practitioner_json(practitioner)
        body = patch_body(PractitionerFields, before)
        if body.active != practitioner.active and not current_principal().is_admin:
            raise Problem(
                403, "Not allowed", "Only an admin can deactivate or reactivate a practitioner."
            )
        for name, value in body.model_dump().items():
            setattr(practitioner, name, value)
        practitioner.revision += 1
        session.flush()
        rt.emitter.emit(session, practitioner_snapshot(practitioner, new=False))
        audit(
            session,
            "practitioner.updated",
            "practitioner",
            practitioner.id,
            before,
            practitioner_json(practitioner),
        )
    rt.outbox_written()
    return jsonify(practitioner_json(practitioner))


# -- weekly working hours --------------------------------------------------------------------

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


def _minutes(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


class Period(BaseModel):
    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    start: str = Field(description="HH:MM, wall-clock time in the practitioner's time zone")
    end: str = Field(description="HH:MM (24:00 for midnight)")

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("must be a time of day as HH:MM, e.g. 09:00")
        return value

    @model_validator(mode="after")
    def _order(self) -> Period:
        if _minutes(self.end) <= _minutes(self.start):
            raise ValueError("end must be after start")
        return self


class WeeklyHours(BaseModel):
    periods: list[Period] = Field(max_length=50)

    @model_validator(mode="after")
    def _no_overlap(self) -> WeeklyHours:
        by_day: dict[str, list[tuple[int, int]]] = {}
        for p in self.periods:
            by_day.setdefault(p.weekday, []).append((_minutes(p.start), _minutes(p.end)))
        for day, spans in by_day.items():
            spans.sort()
            for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
                if start < end:
                    raise ValueError(f"the periods on {day} overlap")
        return self


def _hours_json(session: Any, practitioner_id: str) -> list[schemas.WorkingPeriod]:
    rows = session.scalars(
        select(WorkingHours)
        .where(WorkingHours.practitioner_id == practitioner_id)
        .order_by(WorkingHours.weekday, WorkingHours.start_minute)
    )
    return [
        {
            "weekday": WEEKDAYS[h.weekday],
            "start": f"{h.start_minute // 60:02d}:{h.start_minute % 60:02d}",
            "end": f"{h.end_minute // 60:02d}:{h.end_minute % 60:02d}",
        }
        for h in rows
    ]


@api.get("/practitioners/<practitioner_id>/working-hours")
def get_working_hours(practitioner_id: str) -> Any:
    with runtime().db.sessions() as session:
        practitioner = _practitioner(session, practitioner_id)
        hours: schemas.WorkingHours = {
            "time_zone": practitioner.time_zone,
            "periods": _hours_json(session, practitioner_id),
        }
        return jsonify(hours)


@api.put("/practitioners/<practitioner_id>/working-hours")
def put_working_hours(practitioner_id: str) -> Any:
    require_practitioner_access(practitioner_id)
    body = parse_body(WeeklyHours)
    with runtime().db.transaction() as session:
        practitioner = _practitioner(session, practitioner_id)
        before = _hours_json(session, practitioner_id)
        session.execute(delete(WorkingHours).where(WorkingHours.practitioner_id == practitioner_id))
        for p in body.periods:
            session.add(
                WorkingHours(
                    practitioner_id=practitioner_id,
                    weekday=WEEKDAYS.index(p.weekday),
                    start_minute=_minutes(p.start),
                    end_minute=_minutes(p.end),
                )
            )
        session.flush()
        after = _hours_json(session, practitioner_id)
        audit(
            session,
            "practitioner.hours_set",
            "practitioner",
            practitioner_id,
            {"periods": before},
            {"periods": after},
        )
        hours: schemas.WorkingHours = {"time_zone": practitioner.time_zone, "periods": after}
        return jsonify(hours)


# -- time off and one-off exceptions ---------------------------------------------------------


class TimeOffFields(BaseModel):
    starts_at: Instant
    ends_at: Instant
    kind: Literal["time_off", "extra"] = Field(
        default="time_off",
        description="time_off: not bookable; extra: bookable outside the weekly hours",
    )
    reason: str | None = Field(default=None, max_length=300)

    @model_validator(mode="after")
    def _order(self) -> TimeOffFields:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > timedelta(days=366):
            raise ValueError("a single exception may last at most a year")
        return self


def time_off_json(t: TimeOff) -> schemas.TimeOff:
    return {
        "id": t.id,
        "practitioner_id": t.practitioner_id,
        "kind": t.kind,
        "starts_at": t.starts_at.isoformat(),
        "ends_at": t.ends_at.isoformat(),
        "reason": t.reason,
    }


@api.get("/practitioners/<practitioner_id>/time-off")
def list_time_off(practitioner_id: str) -> Any:
    with runtime().db.sessions() as session:
        _practitioner(session, practitioner_id)
        rows = session.scalars(
            select(TimeOff)
            .where(TimeOff.practitioner_id == practitioner_id)
            .order_by(TimeOff.starts_at)
        )
        listed: schemas.TimeOffList = {"items": [time_off_json(t) for t in rows]}
        return jsonify(listed)


@api.post("/practitioners/<practitioner_id>/time-off")
def add_time_off(practitioner_id: str) -> Any:
    require_practitioner_access(practitioner_id)
    body = parse_body(TimeOffFields)
    now = runtime().clock.now()
    with runtime().db.transaction() as session:
        _practitioner(session, practitioner_id)
        row = TimeOff(id=str(uuid.uuid4()), practitioner_id=practitioner_id, **body.model_dump())
        session.add(row)
        session.flush()
        if row.kind == "extra":
            refill.record_opening(
                session, practitioner_id, row.starts_at, row.ends_at, "extra_hours", now
            )
        audit(
            session,
            "practitioner.time_off_added",
            "practitioner",
            practitioner_id,
            None,
            time_off_json(row),
        )
    return jsonify(time_off_json(row)), 201


@api.delete("/practitioners/<practitioner_id>/time-off/<time_off_id>")
def remove_time_off(practitioner_id: str, time_off_id: str) -> Any:
    require_practitioner_access(practitioner_id)
    with runtime().db.transaction() as session:
        row = session.get(TimeOff, time_off_id)
        if row is None or row.practitioner_id != practitioner_id:
            raise not_found("time off")
        before = time_off_json(row)
        session.delete(row)
        audit(session, "practitioner.time_off_removed", "practitioner", practitioner_id, before)
    return "", 204


# -- clients ---------------------------------------------------------------------------------


class ClientPatch(ClientFields):
    active: bool = True


class ClientQuery(PageQuery):
    q: str = Field(default="", max_length=200)
    ids: str = Field(default="", max_length=20_000)
    active: bool | None = None


CLIENT_ORDER = (Client.last_name, Client.first_name, Client.id)


def client_search(statement: Select[Any], text: str) -> Select[Any]:
    """Clients whose name or email holds every word typed, or whose phone holds its digits
    (three or more: "617555" finds +1 617-555-…)."""
    words = [w for w in text.lower().split() if w]
    digits = re.sub(r"\D", "", text)
    if not words:
        return statement
    every_word = and_(
        *(
            or_(
                func.lower(Client.first_name).contains(w, autoescape=True),
                func.lower(Client.last_name).contains(w, autoescape=True),
                func.lower(func.coalesce(Client.email, "")).contains(w, autoescape=True),
            )
            for w in words
        )
    )
    if len(digits) >= 3:
        return statement.where(or_(every_word, Client.phone.contains(digits, autoescape=True)))
    return statement.where(every_word)


@api.get("/clients")
def list_clients() -> Any:
    """Clients by name, a page at a time; ``q`` searches, ``ids`` fetches named clients."""
    query = parse_query(ClientQuery)
    statement = client_search(select(Client), query.q)
    if query.ids:
        statement = statement.where(Client.id.in_(query.ids.split(",")[:MAX_LIMIT]))
    if query.active is not None:
        statement = statement.where(Client.active == query.active)
    with runtime().db.sessions() as session:
        statement = access.visible_clients(session, statement)
        return jsonify(paginate(session, statement, CLIENT_ORDER, query, client_json))


@api.post("/clients")
def create_client() -> Any:
    body = parse_body(ClientFields)
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        access.require_assignment_allowed(session, None, body.assigned_practitioner_id)
        if access.scope(session) is not None and body.assigned_practitioner_id is None:
            body.assigned_practitioner_id = current_principal().practitioner_id
        _assignable(session, body.assigned_practitioner_id)
        client = Client(id=str(uuid.uuid4()), created_at=now, **body.columns())
        session.add(client)
        session.flush()
        rt.emitter.emit(session, client_snapshot(client, new=True))
        audit(session, "client.registered", "client", client.id, None, client_json(client))
    rt.outbox_written()
    return jsonify(client_json(client)), 201, {"Location": f"/api/v1/clients/{client.id}"}


@api.get("/clients/<client_id>")
def get_client(client_id: str) -> Any:
    with runtime().db.sessions() as session:
        return jsonify(client_json(access.visible_client(session, client_id)))


@api.patch("/clients/<client_id>")
def update_client(client_id: str) -> Any:
    rt = runtime()
    with rt.db.transaction() as session:
        client = access.visible_client(session, client_id)
        before = client_json(client)
        body = patch_body(ClientPatch, before)
        access.require_assignment_allowed(
            session, client.assigned_practitioner_id, body.assigned_practitioner_id
        )
        _assignable(session, body.assigned_practitioner_id)
        for name, value in body.columns().items():
            setattr(client, name, value)
        client.revision += 1
        session.flush()
        rt.emitter.emit(session, client_snapshot(client, new=False))
        audit(session, "client.updated", "client", client.id, before, client_json(client))
    rt.outbox_written()
    return jsonify(client_json(client))


def _assignable(session: Any, practitioner_id: str | None) -> None:
    if practitioner_id is not None and session.get(Practitioner, practitioner_id) is None:
        raise Problem(
            422,
            "Invalid request",
            "There is no such practitioner to assign the client to.",
            errors=[{"field": "assigned_practitioner_id", "message": "not found"}],
        )


# -- service types ---------------------------------------------------------------------------


class ServiceTypeFields(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    duration_minutes: int = Field(ge=5, le=8 * 60)
    cpt_code: str | None = Field(default=None, pattern=r"^\d{4}[0-9A-Z]$")
    billable: bool = True
    active: bool = True

    def columns(self) -> dict[str, Any]:
        data = self.model_dump()
        data["duration"] = timedelta(minutes=data.pop("duration_minutes"))
        data["name"] = data["name"].strip()
        return data


@api.get("/service-types")
def list_service_types() -> Any:
    """Service types by name, a page at a time."""
    query = parse_query(PageQuery)
    keys = (ServiceType.name, ServiceType.id)
    with runtime().db.sessions() as session:
        return jsonify(paginate(session, select(ServiceType), keys, query, service_type_json))


@api.get("/service-types/<service_type_id>")
def get_service_type(service_type_id: str) -> Any:
    with runtime().db.sessions() as session:
        row = session.get(ServiceType, service_type_id)
        if row is None:
            raise not_found("service type")
        return jsonify(service_type_json(row))


@api.post("/service-types")
@require_role("admin")
def create_service_type() -> Any:
    body = parse_body(ServiceTypeFields)
    rt = runtime()
    with rt.db.transaction() as session:
        row = ServiceType(id=str(uuid.uuid4()), revision=1, **body.columns())
        session.add(row)
        session.flush()
        rt.emitter.emit(session, service_type_snapshot(row, new=True))
        audit(session, "service_type.defined", "service_type", row.id, None, service_type_json(row))
    rt.outbox_written()
    return jsonify(service_type_json(row)), 201, {"Location": f"/api/v1/service-types/{row.id}"}


@api.patch("/service-types/<service_type_id>")
@require_role("admin")
def update_service_type(service_type_id: str) -> Any:
    rt = runtime()
    with rt.db.transaction() as session:
        row = session.get(ServiceType, service_type_id)
        if row is None:
            raise not_found("service type")
        before = service_type_json(row)
        body = patch_body(ServiceTypeFields, before)
        for name, value in body.columns().items():
            setattr(row, name, value)
        row.revision += 1
        session.flush()
        rt.emitter.emit(session, service_type_snapshot(row, new=False))
        audit(
            session, "service_type.updated", "service_type", row.id, before, service_type_json(row)
        )
    rt.outbox_written()
    return jsonify(service_type_json(row))
