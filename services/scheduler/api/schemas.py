"""The scheduler API's JSON answers, one type per shape. Each serializer is declared to return
its type, so mypy checks every key and value it writes; the OpenAPI document publishes the same
types as the success bodies (services/scheduler/api/openapi.py), and the schemathesis run in the
suite checks real answers against them."""

from __future__ import annotations

from typing import Annotated, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from shared.audit import AuditEntry

# An aware instant as ISO 8601 (UTC from the database, or the zone the answer names).
Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
# A calendar day as YYYY-MM-DD.
Day = Annotated[str, Field(json_schema_extra={"format": "date"})]


# -- sign-in and practice ----------------------------------------------------------------------


class Token(TypedDict):
    """A bearer token for the Authorization header of every service, and who it is for."""

    access_token: str
    token_type: str
    expires_in: int
    role: str
    name: str


class Practice(TypedDict):
    """The practice's settings."""

    name: str
    time_zone: str
    currency: str
    cancellation_window_hours: float
    phone: str | None
    address: str | None
    check_in_opens_minutes: int
    client_cancellation: bool
    practitioners_see_all: bool
    desk_idle_minutes: int
    revision: int


class StaffUser(TypedDict):
    """A staff user's login (never its password)."""

    id: str
    email: str
    name: str
    role: str
    practitioner_id: str | None
    active: bool


# -- practitioners ---------------------------------------------------------------------------


class Practitioner(TypedDict):
    """A practitioner; ``revision`` rises with every change."""

    id: str
    revision: int
    display_name: str
    email: str | None
    time_zone: str
    buffer_minutes: int
    location: str | None
    video_room_url: str | None
    active: bool


class WorkingPeriod(TypedDict):
    """A weekly period of working hours, wall-clock HH:MM in the practitioner's zone (the end
    may be 24:00)."""

    weekday: str
    start: str
    end: str


class PractitionerWithHours(Practitioner):
    """A practitioner and their weekly working hours."""

    working_hours: list[WorkingPeriod]


class WorkingHours(TypedDict):
    """A practitioner's weekly working hours, in their zone."""

    time_zone: str
    periods: list[WorkingPeriod]


class TimeOff(TypedDict):
    """Time off (not bookable) or extra hours (bookable outside the weekly hours)."""

    id: str
    practitioner_id: str
    kind: str
    starts_at: Instant
    ends_at: Instant
    reason: str | None


class TimeOffList(TypedDict):
    """A practitioner's time off and extra hours, in start order."""

    items: list[TimeOff]


class FeedLinks(TypedDict):
    """The secret iCal feed URL, and the same as webcal:// for calendar apps."""

    url: str
    webcal_url: str


# -- clients and service types ---------------------------------------------------------------


class Client(TypedDict):
    """A client; ``revision`` rises with every change."""

    id: str
    revision: int
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    time_zone: str
    locale: str
    preferred_channels: list[str]
    sms_consent: bool
    email_consent: bool
    active: bool
    assigned_practitioner_id: str | None


class ServiceType(TypedDict):
    """A kind of session: its length (ISO 8601 and in minutes) and billing code."""

    id: str
    revision: int
    name: str
    cpt_code: str | None
    duration: str
    duration_minutes: int
    billable: bool
    active: bool


class CheckInSettings(TypedDict):
    """The practice's check-in questions and safety net; ``ready`` once crisis words and a
    safety message are set (check-ins cannot be enabled before)."""

    threshold: int
    crisis_words: list[str]
    safety_message: str | None
    questions: list[str]
    ready: bool
    revision: int


class CheckInEnrolment(TypedDict):
    """A client's check-ins: when they are asked (``time`` is HH:MM in the client's zone,
    ``weekdays`` 0 = Monday) and until when."""

    id: str
    client_id: str
    practitioner_id: str
    active: bool
    schedule: str
    time: str
    weekdays: list[int]
    days_after: int | None
    until: str
    until_date: Day | None
    question: str
    revision: int


# -- appointments and courses ----------------------------------------------------------------


class Appointment(TypedDict):
    """A session; ``sequence`` rises with every change (the iCal SEQUENCE)."""

    id: str
    sequence: int
    status: str
    client_id: str
    practitioner_id: str
    service_type_id: str
    starts_at: Instant
    ends_at: Instant
    time_zone: str
    course_id: str | None
    location: str | None
    video_url: str | None
    reminder_status: str | None
    reminders_planned: int
    reminders_not_planned: int
    last_message: str | None
    confirmed_by: str | None
    invoice_status: str | None
    invoice_number: str | None
    cancelled_by: str | None
    cancellation_reason: str | None
    late_cancellation: bool


class CancelledAppointment(Appointment):
    """The session cancelled, and every session cancelled with it (itself first)."""

    cancelled: list[Appointment]


class RescheduledAppointment(Appointment):
    """The session moved, and every session moved with it (itself first)."""

    rescheduled: list[Appointment]


class SearchHit(Client):
    """A client found, with their next few sessions."""

    upcoming_sessions: list[Appointment]


class SelfServiceLink(TypedDict):
    """The session's live self-service link; it works until the session ends."""

    url: str
    expires_at: Instant


class ReplacedSelfServiceLink(TypedDict):
    """How many live links were revoked, and the session's new link."""

    revoked: int
    url: str


class Slot(TypedDict):
    """A free start time, in the zone the answer names."""

    starts_at: Instant
    ends_at: Instant


class Availability(TypedDict):
    """Free slots for a service with a practitioner (and a client, if named)."""

    practitioner_id: str
    service_type_id: str
    client_id: str | None
    time_zone: str
    duration_minutes: int
    slots: list[Slot]


class SessionClash(TypedDict):
    """Why a course session cannot be booked: another session then (its id and times), or the
    practitioner's time off (its id)."""

    reason: str
    conflicting_appointment_id: NotRequired[str]
    conflicting_starts_at: NotRequired[Instant]
    conflicting_ends_at: NotRequired[Instant]
    time_off_id: NotRequired[str]


class SkippedSession(SessionClash):
    """A course session not booked (numbered from 1), with the nearest free slots."""

    session: int
    starts_at: Instant
    alternatives: list[Slot]


class AuthorizationWarning(TypedDict):
    """A course session the insurance authorization does not cover."""

    session: int
    starts_at: Instant
    reason: str
    message: str


class CourseAuthorization(TypedDict):
    """The insurance authorization covering a course, and the sessions it leaves uncovered."""

    authorization_id: str
    payer: str
    number: str
    sessions_authorized: int
    valid_from: Day
    valid_to: Day
    remaining: int
    warnings: list[AuthorizationWarning]


class CourseBooking(TypedDict):
    """A course booked: the sessions booked, those skipped (free_only mode) and the
    authorization covering it, if any."""

    course_id: str
    time_zone: str
    booked: list[Appointment]
    skipped: list[SkippedSession]
    authorization: CourseAuthorization | None


class Course(TypedDict):
    """A course's sessions in start order."""

    course_id: str
    appointments: list[Appointment]


# -- waiting list ----------------------------------------------------------------------------


class WaitlistOffer(TypedDict):
    """A freed slot offered to a waiting client, and what became of it."""

    id: str
    practitioner_id: str
    starts_at: Instant
    ends_at: Instant
    status: str
    offered_at: Instant
    expires_at: Instant
    closed_at: Instant | None
    answered_by: str | None
    appointment_id: str | None


class WaitlistWindow(TypedDict):
    """A weekly window the client can come in, HH:MM on their clock (weekday 0 = Monday; the
    end may be 24:00)."""

    weekday: int
    start: str
    end: str


class WaitlistEntry(TypedDict):
    """A client on the waiting list (``practitioner_ids`` null: any practitioner), with the
    offers made to them."""

    id: str
    client_id: str
    practitioner_ids: list[str] | None
    service_type_id: str
    windows: list[WaitlistWindow]
    earliest_date: Day
    latest_date: Day
    priority: int
    status: str
    appointment_id: str | None
    created_at: Instant
    offers: list[WaitlistOffer]


class WaitlistOffering(TypedDict):
    """How freed slots are offered: to one client at a time, or to the first ``batch``."""

    mode: str
    batch: int
    offer_minutes: int


# -- audit and this document -----------------------------------------------------------------


class AuditLog(TypedDict):
    """Audit entries, newest first."""

    items: list[AuditEntry]
