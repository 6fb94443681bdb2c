"""Availability search and booking a course of sessions."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from flask import jsonify
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.scheduler import access, domain, metrics
from services.scheduler.api import schemas
from services.scheduler.api.appointments import (
    booking_parties,
    new_appointment,
    overlapping,
    refuse_past,
)
from services.scheduler.api.common import api, appointment_json, retry_on_race
from services.scheduler.authorizations import course_authorization
from services.scheduler.events import course_event
from services.scheduler.tables import (
    IDEMPOTENT_REQUESTS,
    Appointment,
    Practitioner,
    ServiceType,
    TimeOff,
    WorkingHours,
)
from services.scheduler.validation import Day, Instant, JoinLink
from shared.auth import current_principal
from shared.contracts.appointments import CourseBooked
from shared.http import Problem, not_found, parse_body, parse_query
from shared.idempotency import replay_or_run
from shared.web import runtime

MAX_RANGE = timedelta(days=31)
ALTERNATIVES_WITHIN = timedelta(days=3)
DayOrInstant = Annotated[Instant | Day, Field(union_mode="left_to_right")]


def _zone(value: str | None) -> str | None:
    if value is not None and not domain.is_time_zone(value):
        raise ValueError("is not an IANA time zone such as America/New_York")
    return value


class AvailabilityQuery(BaseModel):
    practitioner_id: str = Field(max_length=36)
    service_type_id: str = Field(max_length=36)
    client_id: str | None = Field(default=None, max_length=36)
    range_from: DayOrInstant = Field(alias="from", description="a date or an aware date-time")
    range_to: DayOrInstant = Field(alias="to", description="a date (inclusive) or a date-time")
    time_zone: str | None = Field(
        default=None,
        description="zone of the answer and of plain dates; default the practitioner's",
    )

    @field_validator("time_zone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return _zone(value)


def _instant(value: date | datetime, zone: str, end: bool) -> datetime:
    if isinstance(value, datetime):
        return value
    day = value + timedelta(days=1) if end else value
    return domain.wall_to_utc(datetime(day.year, day.month, day.day), ZoneInfo(zone))


def working_time(
    session: Session, practitioner: Practitioner, start: datetime, end: datetime
) -> tuple[list[domain.Interval], list[domain.Interval], list[domain.Interval]]:
    """The practitioner's weekly hours, extra hours and time off in [start, end)."""
    hours = [
        domain.WeeklyPeriod(h.weekday, h.start_minute, h.end_minute)
        for h in session.scalars(
            select(WorkingHours).where(WorkingHours.practitioner_id == practitioner.id)
        )
    ]
    exceptions = session.scalars(
        select(TimeOff).where(
            TimeOff.practitioner_id == practitioner.id,
            TimeOff.starts_at < end,
            TimeOff.ends_at > start,
        )
    ).all()
    extra = [
        domain.Interval(max(t.starts_at, start), min(t.ends_at, end))
        for t in exceptions
        if t.kind == "extra"
    ]
    blocked = [domain.Interval(t.starts_at, t.ends_at) for t in exceptions if t.kind != "extra"]
    return domain.local_working_intervals(hours, practitioner.time_zone, start, end), extra, blocked


def find_slots(
    session: Session,
    practitioner: Practitioner,
    service_type: ServiceType,
    start: datetime,
    end: datetime,
    *,
    client_id: str | None,
    now: datetime,
) -> list[domain.Interval]:
    """Free start times for ``service_type`` with ``practitioner`` in [start, end)."""
    buffer = timedelta(minutes=practitioner.buffer_minutes)
    working, extra, blocked = working_time(session, practitioner, start, end)
    margin = buffer + service_type.duration
    busy = session.scalars(
        select(Appointment).where(
            Appointment.status.in_(domain.ACTIVE_STATUSES),
            Appointment.starts_at < end + margin,
            Appointment.ends_at > start - margin,
            (Appointment.practitioner_id == practitioner.id)
            | (Appointment.client_id == (client_id or "")),
        )
    ).all()
    return domain.free_slots(
        working=working,
        extra=extra,
        blocked=blocked,
        practitioner_busy=[
            domain.Interval(a.starts_at, a.ends_at)
            for a in busy
            if a.practitioner_id == practitioner.id
        ],
        client_busy=[
            domain.Interval(a.starts_at, a.ends_at) for a in busy if a.client_id == client_id
        ],
        duration=service_type.duration,
        buffer=buffer,
        not_before=now,
    )


def slot_json(slot: domain.Interval, zone: str) -> schemas.Slot:
    tz = ZoneInfo(zone)
    return {
        "starts_at": slot.start.astimezone(tz).isoformat(),
        "ends_at": slot.end.astimezone(tz).isoformat(),
    }


@api.get("/availability")
def availability() -> Any:
    query = parse_query(AvailabilityQuery)
    rt = runtime()
    with rt.db.sessions() as session:
        practitioner = session.get(Practitioner, query.practitioner_id)
        service_type = session.get(ServiceType, query.service_type_id)
        if practitioner is None or not practitioner.active:
            raise not_found("active practitioner")
        if service_type is None or not service_type.active:
            raise not_found("active service type")
        if query.client_id and access.scope(session) is not None:
            access.visible_client(session, query.client_id)  # their sessions are not to be seen
        zone = query.time_zone or practitioner.time_zone
        start = _instant(query.range_from, zone, end=False)
        end = _instant(query.range_to, zone, end=True)
        if end <= start or end - start > MAX_RANGE:
            raise Problem(
                400,
                "Invalid query",
                "'to' must come after 'from', at most 31 days later.",
                errors=[{"field": "to", "message": "after from, within 31 days"}],
            )
        slots = find_slots(
            session,
            practitioner,
            service_type,
            start,
            end,
            client_id=query.client_id,
            now=rt.clock.now(),
        )
    found: schemas.Availability = {
        "practitioner_id": practitioner.id,
        "service_type_id": service_type.id,
        "client_id": query.client_id,
        "time_zone": zone,
        "duration_minutes": int(service_type.duration.total_seconds() // 60),
        "slots": [slot_json(s, zone) for s in slots],
    }
    return jsonify(found)


# -- courses ---------------------------------------------------------------------------------


class BookCourse(BaseModel):
    client_id: str = Field(min_length=1, max_length=36)
    practitioner_id: str = Field(min_length=1, max_length=36)
    service_type_id: str = Field(min_length=1, max_length=36)
    first_starts_at: Instant
    sessions: int = Field(ge=2, le=52)
    every_weeks: Literal[1, 2] = 1
    mode: Literal["all_or_nothing", "free_only"] = "all_or_nothing"
    location: str | None = Field(default=None, max_length=300)
    video_url: JoinLink = None

    @model_validator(mode="after")
    def _whole_minutes(self) -> BookCourse:
        if self.first_starts_at.second or self.first_starts_at.microsecond:
            raise ValueError("first_starts_at must be on a whole minute")
        return self


def _occurrence_conflict(
    session: Session,
    wanted: domain.Interval,
    practitioner: Practitioner,
    client_id: str,
) -> schemas.SessionClash | None:
    clash = overlapping(session, wanted, practitioner.id, client_id)
    if clash is not None:
        who = "practitioner" if clash.practitioner_id == practitioner.id else "client"
        return {
            "reason": f"the {who} already has a session then",
            "conflicting_appointment_id": clash.id,
            "conflicting_starts_at": clash.starts_at.isoformat(),
            "conflicting_ends_at": clash.ends_at.isoformat(),
        }
    time_off = session.scalars(
        select(TimeOff).where(
            TimeOff.practitioner_id == practitioner.id,
            TimeOff.kind == "time_off",
            TimeOff.starts_at < wanted.end,
            TimeOff.ends_at > wanted.start,
        )
    ).first()
    if time_off is not None:
        return {
            "reason": "the practitioner is off then"
            + (f" ({time_off.reason})" if time_off.reason else ""),
            "time_off_id": time_off.id,
        }
    return None


@api.post("/courses")
def book_course() -> Any:
    body = parse_body(BookCourse)
    rt = runtime()
    user = current_principal()
    now = rt.clock.now()

    with metrics.booking_meter() as outcome:

        def attempt() -> tuple[Any, bool]:
            with rt.db.transaction() as session:

                def book() -> tuple[schemas.CourseBooking, int]:
                    client, practitioner, service_type = booking_parties(
                        session, body.client_id, body.practitioner_id, body.service_type_id
                    )
                    outcome.service_type = service_type.name
                    refuse_past(body.first_starts_at, now, field="first_starts_at")
                    zone = practitioner.time_zone
                    starts = domain.course_starts(
                        body.first_starts_at, body.sessions, body.every_weeks, zone
                    )
                    free: list[domain.Interval] = []
                    conflicts: list[schemas.SkippedSession] = []
                    for number, start in enumerate(starts, start=1):
                        wanted = domain.session_interval(start, service_type.duration)
                        problem = _occurrence_conflict(session, wanted, practitioner, client.id)
                        if problem is None:
                            free.append(wanted)
                            continue
                        options = find_slots(
                            session,
                            practitioner,
                            service_type,
                            start - ALTERNATIVES_WITHIN,
                            start + ALTERNATIVES_WITHIN,
                            client_id=client.id,
                            now=now,
                        )
                        conflicts.append(
                            {
                                "session": number,
                                "starts_at": start.astimezone(ZoneInfo(zone)).isoformat(),
                                **problem,
                                "alternatives": [
                                    slot_json(s, zone) for s in domain.nearest(options, start)
                                ],
                            }
                        )
                    outcome.conflicts = len(conflicts)
                    if conflicts and (body.mode == "all_or_nothing" or not free):
                        raise Problem(
                            409,
                            "Conflict",
                            f"{len(conflicts)} of {body.sessions} sessions clash: "
                            + "; ".join(
                                f"session {c['session']} at {c['starts_at']}: {c['reason']}"
                                for c in conflicts
                            )
                            + ". Nothing was booked.",
                            conflicts=conflicts,
                        )
                    # Before booking, so that the new sessions do not count against themselves.
                    authorization = course_authorization(
                        session, client.id, service_type, [w.start for w in free], zone, now
                    )
                    course_id = str(uuid.uuid4())
                    booked = [
                        new_appointment(
                            session,
                            client=client,
                            practitioner=practitioner,
                            service_type=service_type,
                            wanted=wanted,
                            location=body.location,
                            booked_by=user.user_id,
                            now=now,
                            course_id=course_id,
                            video_url=body.video_url,
                        )
                        for wanted in free
                    ]
                    # One word to the client for the whole course, beside each session's own.
                    rt.emitter.emit(
                        session, course_event(CourseBooked, booked, every_weeks=body.every_weeks)
                    )
                    outcome.booked = len(booked)
                    booking: schemas.CourseBooking = {
                        "course_id": course_id,
                        "time_zone": zone,
                        "booked": [appointment_json(a) for a in booked],
                        "skipped": conflicts,
                        "authorization": authorization,
                    }
                    return booking, 201

                return replay_or_run(session, IDEMPOTENT_REQUESTS, user.user_id, now, book)

        response, replayed = retry_on_race(attempt)
        outcome.replayed = replayed
    if not replayed:
        rt.outbox_written()
    response.headers["Location"] = f"/api/v1/courses/{response.json['course_id']}"
    return response


@api.get("/courses/<course_id>")
def get_course(course_id: str) -> Any:
    with runtime().db.sessions() as session:
        rows = session.scalars(
            access.visible_appointments(
                session,
                select(Appointment)
                .where(Appointment.course_id == course_id)
                .order_by(Appointment.starts_at),
            )
        ).all()
        if not rows:
            raise not_found("course")
        course: schemas.Course = {
            "course_id": course_id,
            "appointments": [appointment_json(a) for a in rows],
        }
        return jsonify(course)
