"""The notifier's own database: its copies of clients, practitioners and appointments, the
reminder policy and templates, reminders, every message in and out, the desk inbox, and
check-ins (their answers, the practitioners' inbox, and the audit of who read them)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import AuditTrail
from shared.db import UTCDateTime, new_metadata
from shared.outbox import EventTables


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = {datetime: UTCDateTime}


EVENTS = EventTables(Base.metadata)
# Every read of a client's check-in answers, by whom.
AUDIT = AuditTrail(Base.metadata)


class PracticeProfile(Base):
    """Projection of practice.updated: how the practice presents itself in messages."""

    __tablename__ = "practice_profile"
    practice_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(300))


class ClientContact(Base):
    """Projection of client.* events: only what reminders need, plus the client's SMS opt-out
    (which the notifier owns: it hears STOP and START)."""

    __tablename__ = "client_contact"
    client_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    first_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    time_zone: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(20), default="en_US", server_default="en_US")
    preferred_channels: Mapped[str] = mapped_column(String(40))
    sms_consent: Mapped[bool]
    email_consent: Mapped[bool]
    active: Mapped[bool]
    sms_opted_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class PractitionerName(Base):
    """Projection of practitioner.* events: the name a message may carry."""

    __tablename__ = "practitioner_name"
    practitioner_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    display_name: Mapped[str] = mapped_column(String(200))


class AppointmentView(Base):
    """Projection of appointment.* events; ``sequence`` guards against stale events."""

    __tablename__ = "appointment_view"
    appointment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str] = mapped_column(String(36))
    practitioner_id: Mapped[str] = mapped_column(String(36))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    service_type_id: Mapped[str | None] = mapped_column(String(36))
    # Where the session takes place (the practitioner's zone); None for rows projected
    # before the notifier kept it, until the appointment's next event.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(300))
    video_url: Mapped[str | None] = mapped_column(String(500))  # a video session's join link
    # The secret of the session's self-service page, which confirmations and reminders link to.
    self_service_token: Mapped[str | None] = mapped_column(String(64))


class Reminder(Base):
    """One message to send: planned -> sending -> sent, or failed / cancelled / skipped /
    unknown (the worker stopped between "sending" and "sent" and the provider could not say
    whether it got the message; never resent blindly). ``sending`` is set per message, right
    before its provider call, so a killed worker leaves at most one in doubt per sending thread."""

    __tablename__ = "reminder"
    __table_args__ = (Index("ix_reminder_due", "status", "due_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    appointment_id: Mapped[str] = mapped_column(
        ForeignKey("appointment_view.appointment_id"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    appointment_sequence: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str] = mapped_column(String(10))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    sending_since: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    fallback_of: Mapped[str | None] = mapped_column(String(36))
    # A message for several sessions of a course at once (booked, moved or cancelled together):
    # the course and those sessions [{appointment_id, sequence, starts_at, ends_at}];
    # ``appointment_id`` is then the first of them.
    course_id: Mapped[str | None] = mapped_column(String(36))
    sessions: Mapped[list | None] = mapped_column(JSON)


class Message(Base):
    """The message log: every message handed to a channel, and what became of it."""

    __tablename__ = "message"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reminder_id: Mapped[str | None] = mapped_column(String(36), index=True)
    appointment_id: Mapped[str | None] = mapped_column(String(36), index=True)
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(30))
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # An SMS that asked the client to reply C; a reply answers the latest one still open.
    asks_confirmation: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    answered_at: Mapped[datetime | None]
    # SHA-256 of the body sent (hex): how a message left in doubt is recognised at the provider.
    body_digest: Mapped[str | None] = mapped_column(String(64))


class SandboxMessage(Base):
    """What the sandbox channel "sent" (embedded default): the whole message, for the desk."""

    __tablename__ = "sandbox_message"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    has_calendar: Mapped[bool] = mapped_column(Boolean, default=False)
    calendar: Mapped[str | None] = mapped_column(Text)  # the .ics that would have been sent
    created_at: Mapped[datetime]


class InboundMessage(Base):
    """An SMS a client sent us, or a request they made on their session's self-service page
    (``provider_id`` ``self-service-<event id>``); the desk inbox is the ones that need a
    person."""

    __tablename__ = "inbound_message"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str | None] = mapped_column(String(36), index=True)
    appointment_id: Mapped[str | None] = mapped_column(String(36))
    body: Mapped[str] = mapped_column(Text)
    intent: Mapped[str] = mapped_column(String(20))
    needs_desk: Mapped[bool]
    received_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]
    handled_by: Mapped[str | None] = mapped_column(String(320))


class PolicyRecord(Base):
    """The reminder policy: scope "practice" or a service type id; ``document`` is its wire form."""

    __tablename__ = "reminder_policy"
    scope: Mapped[str] = mapped_column(String(36), primary_key=True)
    document: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(320))


class TemplateRecord(Base):
    """A template edited by the practice; defaults live in templates.py."""

    __tablename__ = "message_template"
    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    subject: Mapped[str | None] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class OfferView(Base):
    """Projection of waitlist.* events: a freed slot offered to a waiting client, what its
    message may say, and whether it is still open."""

    __tablename__ = "offer_view"
    offer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    practitioner_id: Mapped[str] = mapped_column(String(36))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    time_zone: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    accept_url: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))  # open, accepted, taken, expired, withdrawn
    created_at: Mapped[datetime]


class OfferNotice(Base):
    """One message about an offer: the offer itself (``waitlist_offer``) or, to a client who
    answered too late, that the slot was taken (``waitlist_taken``). planned -> sending -> sent,
    or skipped / failed / unknown (its worker stopped mid-send)."""

    __tablename__ = "offer_notice"
    __table_args__ = (Index("ix_offer_notice_due", "status", "due_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    offer_id: Mapped[str] = mapped_column(ForeignKey("offer_view.offer_id"), index=True)
    client_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str] = mapped_column(String(10))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class CheckInSettings(Base):
    """Projection of check_in.settings_updated: the practice's safety net."""

    __tablename__ = "check_in_settings"
    id: Mapped[str] = mapped_column(String(20), primary_key=True)  # "practice"
    revision: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int] = mapped_column(Integer)
    crisis_words: Mapped[list] = mapped_column(JSON)
    safety_message: Mapped[str | None] = mapped_column(Text)


class CheckInEnrolment(Base):
    """Projection of check_in.enrolment_changed, plus what the client said by SMS (PAUSE)."""

    __tablename__ = "check_in_enrolment"
    client_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    enrolment_id: Mapped[str] = mapped_column(String(36))
    practitioner_id: Mapped[str] = mapped_column(String(36))
    revision: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool]
    schedule: Mapped[str] = mapped_column(String(20))
    local_time: Mapped[str] = mapped_column(String(8))  # HH:MM:SS in the client's zone
    weekdays: Mapped[str] = mapped_column(String(20))  # "0,2,4" (0 = Monday)
    days_after: Mapped[int | None] = mapped_column(Integer)
    until: Mapped[str] = mapped_column(String(20))
    until_date: Mapped[date | None] = mapped_column(Date)
    question: Mapped[str] = mapped_column(Text)
    paused_at: Mapped[datetime | None]


class CheckIn(Base):
    """One check-in SMS: a ``question`` (planned -> sending -> sent, or skipped / cancelled /
    failed) or the ``safety`` message the safety net sends once per reply that raised it."""

    __tablename__ = "check_in"
    __table_args__ = (Index("ix_check_in_due", "status", "due_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    practitioner_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(20))
    question: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(36))
    recipient: Mapped[str | None] = mapped_column(String(20), index=True)
    answered_at: Mapped[datetime | None]
    # The inbound reply a safety message answers: one safety message per reply at most.
    trigger_id: Mapped[str | None] = mapped_column(String(36), unique=True)


class CheckInAnswer(Base):
    """A score a client gave by SMS, against the check-in it answers. Read only by the client's
    practitioner and admins, and every read is audited."""

    __tablename__ = "check_in_answer"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    check_in_id: Mapped[str] = mapped_column(String(36), index=True)
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    practitioner_id: Mapped[str] = mapped_column(String(36))
    score: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    inbound_id: Mapped[str] = mapped_column(String(36), unique=True)
    received_at: Mapped[datetime]
    urgent: Mapped[bool]


class PractitionerInboxItem(Base):
    """A reply for the client's practitioner rather than the desk: a check-in reply that is not
    a score (``reply``), or one that needs them at once (``urgent``)."""

    __tablename__ = "practitioner_inbox_item"
    __table_args__ = (UniqueConstraint("inbound_id", "kind", name="uq_practitioner_inbox_reply"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    practitioner_id: Mapped[str] = mapped_column(String(36), index=True)
    client_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(20))
    inbound_id: Mapped[str] = mapped_column(String(36))
    check_in_id: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]
    handled_by: Mapped[str | None] = mapped_column(String(320))


class SmsPacing(Base):
    """When a sender number may next send an SMS: every dispatcher of every replica takes its
    slot here (the row locked for the moment it is moved on), so together they keep the rate."""

    __tablename__ = "sms_pacing"
    sender: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_at: Mapped[datetime]
