"""The waiting list at the desk: put a client on it, list it with each entry's offers and their
outcomes, take a client off it, and set how freed slots are offered."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any, Literal
from zoneinfo import ZoneInfo

from flask import jsonify
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.scheduler import access, refill, waitlist
from services.scheduler.api import schemas
from services.scheduler.api.common import api, audit
from services.scheduler.tables import (
    Client,
    Practice,
    Practitioner,
    ServiceType,
    WaitlistEntry,
    WaitlistOffer,
)
from shared.auth import current_principal, require_role
from shared.http import Problem, conflict, not_found, parse_body, parse_query
from shared.pagination import PageQuery, paginate
from shared.web import runtime

MAX_AHEAD = timedelta(days=366)


class WeeklyWindow(BaseModel):
    weekday: int = Field(ge=0, le=6, description="0 = Monday, in the client's zone")
    start: time = Field(description="HH:MM on the client's clock")
    end: time = Field(description="HH:MM on the client's clock; 00:00 means midnight")

    @model_validator(mode="after")
    def _order(self) -> WeeklyWindow:
        if self.start.second or self.end.second or self.start.microsecond:
            raise ValueError("give times as HH:MM")
        if self.end != time(0) and self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def stored(self) -> schemas.WaitlistWindow:
        end = 1440 if self.end == time(0) else self.end.hour * 60 + self.end.minute
        return {
            "weekday": self.weekday,
            "start": waitlist.clock_text(self.start.hour * 60 + self.start.minute),
            "end": waitlist.clock_text(end),
        }


class NewWaitlistEntry(BaseModel):
    client_id: str = Field(min_length=1, max_length=36)
    practitioner_ids: list[str] | None = Field(
        default=None, max_length=20, description="null or empty: any practitioner"
    )
    service_type_id: str = Field(min_length=1, max_length=36)
    windows: list[WeeklyWindow] = Field(min_length=1, max_length=21)
    earliest_date: date
    latest_date: date
    priority: int = Field(default=0, ge=0, le=100, description="higher is offered first")

    @model_validator(mode="after")
    def _dates(self) -> NewWaitlistEntry:
        if self.latest_date < self.earliest_date:
            raise ValueError("latest_date must not be before earliest_date")
        if self.latest_date - self.earliest_date > MAX_AHEAD:
            raise ValueError("the dates may span at most a year")
        return self

    @field_validator("practitioner_ids")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value and len(set(value)) != len(value):
            raise ValueError("list each practitioner once")
        return value or None


class WaitlistQuery(PageQuery):
    status: Literal["waiting", "booked", "removed"] | None = None
    client_id: str | None = Field(default=None, max_length=36)


class WaitlistSettings(BaseModel):
    mode: Literal["one_at_a_time", "first_n"]
    batch: int = Field(default=3, ge=1, le=20, description="clients offered at once (first_n)")
    offer_minutes: int = Field(ge=5, le=7 * 24 * 60, description="how long an offer stays open")


def offer_json(o: WaitlistOffer) -> schemas.WaitlistOffer:
    return {
        "id": o.id,
        "practitioner_id": o.practitioner_id,
        "starts_at": o.starts_at.isoformat(),
        "ends_at": o.ends_at.isoformat(),
        "status": o.status,
        "offered_at": o.offered_at.isoformat(),
        "expires_at": o.expires_at.isoformat(),
        "closed_at": o.closed_at.isoformat() if o.closed_at else None,
        "answered_by": o.answered_by,
        "appointment_id": o.appointment_id,
    }


def entry_json(
    e: WaitlistEntry, offers: list[WaitlistOffer] | None = None
) -> schemas.WaitlistEntry:
    return {
        "id": e.id,
        "client_id": e.client_id,
        "practitioner_ids": e.practitioner_ids,
        "service_type_id": e.service_type_id,
        "windows": e.windows,
        "earliest_date": e.earliest_date.isoformat(),
        "latest_date": e.latest_date.isoformat(),
        "priority": e.priority,
        "status": e.status,
        "appointment_id": e.appointment_id,
        "created_at": e.created_at.isoformat(),
        "offers": [offer_json(o) for o in offers or []],
    }


def _offers_of(session: Session, entry_ids: list[str]) -> dict[str, list[WaitlistOffer]]:
    found: dict[str, list[WaitlistOffer]] = {i: [] for i in entry_ids}
    for offer in session.scalars(
        select(WaitlistOffer)
        .where(WaitlistOffer.entry_id.in_(entry_ids))
        .order_by(WaitlistOffer.offered_at, WaitlistOffer.id)
    ):
        found[offer.entry_id].append(offer)
    return found


def _invalid(field: str, message: str, detail: str) -> Problem:
    return Problem(422, "Invalid request", detail, errors=[{"field": field, "message": message}])


def _check_parties(session: Session, body: NewWaitlistEntry, now: datetime) -> None:
    client = session.get(Client, body.client_id)
    if client is None or not client.active or not access.may_see_client(session, client):
        raise _invalid("client_id", "not found", "Unknown or inactive client_id.")
    service_type = session.get(ServiceType, body.service_type_id)
    if service_type is None or not service_type.active:
        raise _invalid("service_type_id", "not found", "Unknown or inactive service_type_id.")
    for practitioner_id in body.practitioner_ids or []:
        practitioner = session.get(Practitioner, practitioner_id)
        if practitioner is None or not practitioner.active:
            raise _invalid(
                "practitioner_ids",
                "not found",
                f"Unknown or inactive practitioner {practitioner_id}.",
            )
    if body.latest_date < now.astimezone(ZoneInfo(client.time_zone)).date():
        raise _invalid(
            "latest_date", "in the past", "The latest date has passed where the client lives."
        )


def _visible_entry(session: Session, entry: WaitlistEntry | None) -> WaitlistEntry:
    """The entry, if the signed-in user may see its client (services/scheduler/access.py)."""
    client = session.get(Client, entry.client_id) if entry is not None else None
    if entry is None or client is None or not access.may_see_client(session, client):
        raise not_found("waiting-list entry")
    return entry


@api.post("/waitlist")
def add_to_waitlist() -> Any:
    body = parse_body(NewWaitlistEntry)
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        _check_parties(session, body, now)
        entry = WaitlistEntry(
            id=str(uuid.uuid4()),
            client_id=body.client_id,
            practitioner_ids=body.practitioner_ids,
            service_type_id=body.service_type_id,
            windows=[w.stored() for w in body.windows],
            earliest_date=body.earliest_date,
            latest_date=body.latest_date,
            priority=body.priority,
            status="waiting",
            created_by=current_principal().user_id,
            created_at=now,
            updated_at=now,
        )
        session.add(entry)
        session.flush()
        result = entry_json(entry)
        audit(session, "waitlist.entry_added", "waitlist_entry", entry.id, None, result)
    return jsonify(result), 201, {"Location": f"/api/v1/waitlist/{entry.id}"}


@api.get("/waitlist")
def list_waitlist() -> Any:
    """Entries in the order they joined, a page at a time (``limit``, ``cursor``), each with
    its offers and their outcomes."""
    query = parse_query(WaitlistQuery)
    statement = select(WaitlistEntry)
    if query.status:
        statement = statement.where(WaitlistEntry.status == query.status)
    if query.client_id:
        statement = statement.where(WaitlistEntry.client_id == query.client_id)
    keys = (WaitlistEntry.created_at, WaitlistEntry.id)
    with runtime().db.sessions() as session:
        statement = statement.where(
            WaitlistEntry.client_id.in_(access.visible_clients(session, select(Client.id)))
        )
        page = paginate(session, statement, keys, query, entry_json, (datetime.fromisoformat, str))
        offers = _offers_of(session, [e["id"] for e in page["items"]])
        page["items"] = [
            e | {"offers": [offer_json(o) for o in offers[e["id"]]]} for e in page["items"]
        ]
    return jsonify(page)


@api.get("/waitlist/<entry_id>")
def get_waitlist_entry(entry_id: str) -> Any:
    with runtime().db.sessions() as session:
        entry = _visible_entry(session, session.get(WaitlistEntry, entry_id))
        return jsonify(entry_json(entry, _offers_of(session, [entry.id])[entry.id]))


@api.post("/waitlist/<entry_id>/remove")
def remove_from_waitlist(entry_id: str) -> Any:
    """Take the client off the list; an offer still open is withdrawn."""
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        open_offers = refill.open_offers_of(session, entry_id)
        entry = _visible_entry(session, session.get(WaitlistEntry, entry_id, with_for_update=True))
        if entry.status != "waiting":
            raise conflict(
                f"This entry is {entry.status}, so it is no longer on the waiting list.",
                entry_status=entry.status,
            )
        before = entry_json(entry)
        entry.status, entry.updated_at = "removed", now
        for offer in open_offers:
            refill.close(offer, "withdrawn", now, partial(rt.emitter.emit, session))
        session.flush()
        result = entry_json(entry, _offers_of(session, [entry.id])[entry.id])
        audit(session, "waitlist.entry_removed", "waitlist_entry", entry.id, before, result)
    rt.outbox_written()
    return jsonify(result)


def settings_json(p: Practice | None) -> schemas.WaitlistOffering:
    return {
        "mode": p.waitlist_mode if p else "one_at_a_time",
        "batch": p.waitlist_batch if p else 3,
        "offer_minutes": p.waitlist_offer_minutes if p else 120,
    }


@api.get("/waitlist-settings")
def get_waitlist_settings() -> Any:
    with runtime().db.sessions() as session:
        return jsonify(settings_json(session.scalars(select(Practice)).first()))


@api.put("/waitlist-settings")
@require_role("admin")
def put_waitlist_settings() -> Any:
    body = parse_body(WaitlistSettings)
    with runtime().db.transaction() as session:
        practice = session.scalars(select(Practice)).first()
        if practice is None:
            raise Problem(409, "Not set up", "Set up the practice first.")
        before = settings_json(practice)
        practice.waitlist_mode = body.mode
        practice.waitlist_batch = body.batch
        practice.waitlist_offer_minutes = body.offer_minutes
        after = settings_json(practice)
        audit(session, "practice.waitlist_settings", "practice", practice.id, before, after)
    return jsonify(after)
