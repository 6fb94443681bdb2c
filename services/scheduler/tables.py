"""The scheduler's own database."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, Interval, String, Text, false, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import AuditTrail
from shared.db import UTCDateTime, new_metadata
from shared.idempotency import idempotency_table
from shared.outbox import EventTables


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = {datetime: UTCDateTime, timedelta: Interval}


EVENTS = EventTables(Base.metadata)
AUDIT = AuditTrail(Base.metadata)


class Practice(Base):
    __tablename__ = "practice"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    cancellation_window: Mapped[timedelta]
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(300))
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # How long before a session the desk may check the client in (on the session's day).
    check_in_opens_minutes: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    # Whether clients may cancel a session themselves through the link in their messages.
    client_cancellation: Mapped[bool] = mapped_column(default=True, server_default=true())
    # How a freed slot is offered to the waiting list: "one_at_a_time" or "first_n" (the next
    # ``waitlist_batch`` clients at once), each offer open for ``waitlist_offer_minutes``.
    waitlist_mode: Mapped[str] = mapped_column(
        String(20), default="one_at_a_time", server_default="one_at_a_time"
    )
    waitlist_batch: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    waitlist_offer_minutes: Mapped[int] = mapped_column(Integer, default=120, server_default="120")
    # Off: a practitioner sees only their own clients and sessions (services/scheduler/access.py).
    practitioners_see_all: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The desk is signed out after this long without anyone using it.
    desk_idle_minutes: Mapped[int] = mapped_column(Integer, default=30, server_default="30")


class StaffUser(Base):
    __tablename__ = "staff_user"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(300))
    practitioner_id: Mapped[str | None] = mapped_column(ForeignKey("practitioner.id"))
    active: Mapped[bool] = mapped_column(default=True)


class SignInFailure(Base):
    """A failed sign-in against a key (``email:…`` or ``ip:…``), kept for the limit's window in
    the database so that every web process and replica counts the same failures."""

    __tablename__ = "sign_in_failure"
    __table_args__ = (Index("ix_sign_in_failure_key_at", "key", "failed_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(400))
    failed_at: Mapped[datetime]


class Practitioner(Base):
    __tablename__ = "practitioner"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    time_zone: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    buffer_minutes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    location: Mapped[str | None] = mapped_column(String(300))
    video_room_url: Mapped[str | None] = mapped_column(String(500))  # a standing video room
    # Secret of the practitioner's iCal feed URL; None until first asked for.
    feed_token: Mapped[str | None] = mapped_column(String(64), unique=True)


class WorkingHours(Base):
    """A weekly working period in the practitioner's own time zone (minutes after midnight)."""

    __tablename__ = "working_hours"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    practitioner_id: Mapped[str] = mapped_column(ForeignKey("practitioner.id"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)


class TimeOff(Base):
    """A one-off exception: ``time_off`` (not bookable) or ``extra`` (bookable outside the
    weekly hours)."""

    __tablename__ = "time_off"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    practitioner_id: Mapped[str] = mapped_column(ForeignKey("practitioner.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="time_off")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(String(300))


class Client(Base):
    __tablename__ = "client"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    time_zone: Mapped[str] = mapped_column(String(64))
    # CLDR locale (ll_CC) in which messages show dates and times.
    locale: Mapped[str] = mapped_column(String(20), default="en_US", server_default="en_US")
    preferred_channels: Mapped[str] = mapped_column(String(40), default="sms,email")
    sms_consent: Mapped[bool] = mapped_column(default=False)
    email_consent: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    feed_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The practitioner the client sees, before or besides their sessions (see access.py).
    assigned_practitioner_id: Mapped[str | None] = mapped_column(ForeignKey("practitioner.id"))


class ServiceType(Base):
    __tablename__ = "service_type"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(200))
    duration: Mapped[timedelta]
    cpt_code: Mapped[str | None] = mapped_column(String(10))
    billable: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)


class Appointment(Base):
    """On PostgreSQL the migration adds two exclusion constraints (btree_gist) so that no two
    active appointments of one practitioner, or of one client, overlap in time."""

    __tablename__ = "appointment"
    __table_args__ = (
        Index("ix_appointment_practitioner_time", "practitioner_id", "starts_at"),
        # A practitioner's feed reads the sessions that ended in the last 90 days or later:
        # by end time, not the years of history before them (a client's history is short).
        Index("ix_appointment_practitioner_ends", "practitioner_id", "ends_at"),
        Index("ix_appointment_client_time", "client_id", "starts_at"),
        Index("ix_appointment_course", "course_id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str] = mapped_column(ForeignKey("client.id"))
    practitioner_id: Mapped[str] = mapped_column(ForeignKey("practitioner.id"))
    service_type_id: Mapped[str] = mapped_column(ForeignKey("service_type.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    time_zone: Mapped[str] = mapped_column(String(64))
    course_id: Mapped[str | None] = mapped_column(String(36))
    location: Mapped[str | None] = mapped_column(String(300))
    # A video session's join link: set at booking, else the practitioner's standing room.
    video_url: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
    booked_by: Mapped[str] = mapped_column(String(36))
    cancelled_by: Mapped[str | None] = mapped_column(String(20))
    cancellation_reason: Mapped[str | None] = mapped_column(String(500))
    late_cancellation: Mapped[bool] = mapped_column(default=False, server_default=false())
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # What the other services reported back, shown at the desk.
    reminder_status: Mapped[str | None] = mapped_column(String(20))
    reminders_planned: Mapped[int] = mapped_column(Integer, default=0)
    # Reminders not planned because they would already have been due when booked.
    reminders_not_planned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The latest message and what became of it: confirmation_sent, reminder_delivered, ...
    last_message: Mapped[str | None] = mapped_column(String(40))
    confirmed_by: Mapped[str | None] = mapped_column(String(10))  # client (a reply) or desk
    invoice_status: Mapped[str | None] = mapped_column(String(20))
    invoice_number: Mapped[str | None] = mapped_column(String(20))


class SelfServiceLink(Base):
    """The secret of one session's self-service page (``/s/<token>``), which the client's
    messages carry. Valid until the session ends, unless the desk revokes it."""

    __tablename__ = "self_service_link"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    appointment_id: Mapped[str] = mapped_column(ForeignKey("appointment.id"), index=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # When the client asked the desk to move the session (asked once per link).
    reschedule_asked_at: Mapped[datetime | None]


# The first response to a request carrying an Idempotency-Key, replayed on retries.
IDEMPOTENT_REQUESTS = idempotency_table(Base.metadata)


class AuthorizationView(Base):
    """Projection of billing's authorization.recorded: what a client's insurer authorized, so that
    booking a course can say how many sessions remain without asking billing."""

    __tablename__ = "authorization_view"
    authorization_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    payer: Mapped[str] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(String(60))
    cpt_codes: Mapped[str] = mapped_column(Text)  # JSON list
    sessions_authorized: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    units_used: Mapped[int] = mapped_column(Integer)


class WaitlistEntry(Base):
    """A client waiting for an earlier session: which practitioners (None: any), which service
    type, the weekly windows they can come in their own zone, and the dates they accept."""

    __tablename__ = "waitlist_entry"
    __table_args__ = (Index("ix_waitlist_entry_status", "status", "priority"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("client.id"), index=True)
    practitioner_ids: Mapped[list | None] = mapped_column(JSON)
    service_type_id: Mapped[str] = mapped_column(ForeignKey("service_type.id"))
    windows: Mapped[list] = mapped_column(JSON)  # [{"weekday": 0, "start": "09:00", "end": ...}]
    earliest_date: Mapped[date] = mapped_column(Date)
    latest_date: Mapped[date] = mapped_column(Date)
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher is offered first
    status: Mapped[str] = mapped_column(String(20))  # waiting, booked, removed
    appointment_id: Mapped[str | None] = mapped_column(String(36))  # what it was booked as
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WaitlistOpening(Base):
    """A practitioner's time that became free (a session cancelled or moved away): open while
    it is offered, then filled from the waiting list or closed (started, or nobody fits)."""

    __tablename__ = "waitlist_opening"
    __table_args__ = (Index("ix_waitlist_opening_status", "status", "starts_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    practitioner_id: Mapped[str] = mapped_column(ForeignKey("practitioner.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    cause: Mapped[str] = mapped_column(String(20))  # cancelled, rescheduled
    freed_by: Mapped[str | None] = mapped_column(String(36))  # the appointment that left it
    freed_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))  # open, filled, closed
    closed_at: Mapped[datetime | None]


class WaitlistOffer(Base):
    """One freed slot offered to one waiting client; the token is the secret of its accept
    link. open -> accepted, or taken (someone else got it), expired, withdrawn."""

    __tablename__ = "waitlist_offer"
    __table_args__ = (Index("ix_waitlist_offer_status", "status", "expires_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("waitlist_entry.id"), index=True)
    opening_id: Mapped[str] = mapped_column(ForeignKey("waitlist_opening.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(36))
    practitioner_id: Mapped[str] = mapped_column(String(36))
    service_type_id: Mapped[str] = mapped_column(String(36))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    token: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    offered_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    answered_by: Mapped[str | None] = mapped_column(String(10))  # sms or link, when answered
    appointment_id: Mapped[str | None] = mapped_column(String(36))


class CheckInSettings(Base):
    """The practice's check-in settings: the questions a practitioner may choose from and the
    safety net (threshold, crisis words, safety message). Check-ins cannot be enabled until the
    crisis words and the safety message are set."""

    __tablename__ = "check_in_settings"
    id: Mapped[str] = mapped_column(String(20), primary_key=True)  # "practice"
    revision: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int] = mapped_column(Integer)
    crisis_words: Mapped[str] = mapped_column(Text)  # JSON list
    safety_message: Mapped[str | None] = mapped_column(Text)
    questions: Mapped[str] = mapped_column(Text)  # JSON list
    updated_at: Mapped[datetime]


class CheckInEnrolment(Base):
    """A client enrolled in check-ins by their practitioner (one enrolment per client)."""

    __tablename__ = "check_in_enrolment"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("client.id"), unique=True)
    practitioner_id: Mapped[str] = mapped_column(ForeignKey("practitioner.id"))
    revision: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool]
    schedule: Mapped[str] = mapped_column(String(20))
    local_time: Mapped[str] = mapped_column(String(8))
    weekdays: Mapped[str] = mapped_column(String(20))
    days_after: Mapped[int | None] = mapped_column(Integer)
    until: Mapped[str] = mapped_column(String(20))
    until_date: Mapped[date | None] = mapped_column(Date)
    question: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
