"""The notifier's own database: its copies of clients and appointments, and reminders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, new_metadata
from shared.outbox import EventTables


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = {datetime: UTCDateTime}


EVENTS = EventTables(Base.metadata)


class ClientContact(Base):
    """Projection of client.* events: only what reminders need."""

    __tablename__ = "client_contact"
    client_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    first_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    time_zone: Mapped[str] = mapped_column(String(64))
    preferred_channels: Mapped[str] = mapped_column(String(40))
    sms_consent: Mapped[bool]
    email_consent: Mapped[bool]
    active: Mapped[bool]


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


class Reminder(Base):
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
