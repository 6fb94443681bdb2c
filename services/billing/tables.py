"""Billing's own database."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import UTCDateTime, new_metadata
from shared.outbox import EventTables


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = {datetime: UTCDateTime, date: Date}


EVENTS = EventTables(Base.metadata)


class ClientAccount(Base):
    """Projection of client.* events: who an invoice is addressed to."""

    __tablename__ = "client_account"
    client_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(210))
    email: Mapped[str | None] = mapped_column(String(320))


class ServiceTypeView(Base):
    """Projection of service_type.* events."""

    __tablename__ = "service_type_view"
    service_type_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    cpt_code: Mapped[str | None] = mapped_column(String(10))
    billable: Mapped[bool]


class Fee(Base):
    """The fee schedule: what a session of a service type costs, in minor units."""

    __tablename__ = "fee"
    service_type_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    updated_at: Mapped[datetime]


class InvoiceCounter(Base):
    """The last invoice number given out per year: the row lock makes numbers gapless."""

    __tablename__ = "invoice_counter"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)


class Invoice(Base):
    __tablename__ = "invoice"
    __table_args__ = (UniqueConstraint("number"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime]
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.service_date"
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_line"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoice.id"), index=True)
    appointment_id: Mapped[str] = mapped_column(String(36), index=True)
    description: Mapped[str] = mapped_column(String(300))
    cpt_code: Mapped[str | None] = mapped_column(String(10))
    service_date: Mapped[date]
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class BilledAppointment(Base):
    """Projection of appointment.* events: the last sequence applied to each appointment."""

    __tablename__ = "billed_appointment"
    appointment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str] = mapped_column(String(36))
    service_type_id: Mapped[str] = mapped_column(String(36))
