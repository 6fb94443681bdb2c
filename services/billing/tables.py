"""Billing's own database."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.audit import AuditTrail
from shared.db import UTCDateTime, new_metadata
from shared.idempotency import idempotency_table
from shared.outbox import EventTables


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = {datetime: UTCDateTime, date: Date}


EVENTS = EventTables(Base.metadata)
AUDIT = AuditTrail(Base.metadata)


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


class PractitionerAccount(Base):
    """Projection of practitioner.* events, plus the identifiers billing keeps for superbills."""

    __tablename__ = "practitioner_account"
    practitioner_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    display_name: Mapped[str] = mapped_column(String(200))
    npi: Mapped[str | None] = mapped_column(String(10))
    license: Mapped[str | None] = mapped_column(String(60))


class Fee(Base):
    """The fee schedule: what a session of a service type costs, in minor units, and optionally
    the package price of a whole course of ``package_sessions`` sessions, spread over its
    sessions or (``package_prepaid``) invoiced at booking."""

    __tablename__ = "fee"
    service_type_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    package_price_minor: Mapped[int | None] = mapped_column(BigInteger)
    package_sessions: Mapped[int | None] = mapped_column(Integer)
    # The package is invoiced in full when a course is booked; its sessions then cost nothing.
    package_prepaid: Mapped[bool] = mapped_column(default=False, server_default=false())
    updated_at: Mapped[datetime]


class PractitionerFee(Base):
    """A practitioner's own fee for a service type, overriding the practice's standard fee."""

    __tablename__ = "practitioner_fee"
    service_type_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    practitioner_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class BillingSettings(Base):
    """The practice as its invoices show it, how it invoices, and its cancellation policy (one
    row, id 1)."""

    __tablename__ = "billing_settings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    practice_name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(500))
    npi: Mapped[str | None] = mapped_column(String(10))
    tax_id: Mapped[str | None] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    time_zone: Mapped[str] = mapped_column(String(60))
    # CLDR locale in which amounts and dates are shown (en_US: $1,234.50; de_DE: 1.234,50 €).
    locale: Mapped[str] = mapped_column(String(20), server_default="en_US")
    invoice_mode: Mapped[str] = mapped_column(String(30))
    late_cancellation_kind: Mapped[str] = mapped_column(String(10))
    late_cancellation_value: Mapped[int] = mapped_column(BigInteger)
    no_show_kind: Mapped[str] = mapped_column(String(10))
    no_show_value: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]
    # The revision of the scheduler's practice.updated that set the name, address, zone and
    # currency above (the scheduler owns the practice; older events change nothing).
    practice_revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ClientBillingProfile(Base):
    """What a superbill needs about a client beyond the scheduler's facts: diagnoses and more."""

    __tablename__ = "client_billing_profile"
    client_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    diagnosis_codes: Mapped[str] = mapped_column(Text)  # JSON list of ICD-10 codes
    date_of_birth: Mapped[date | None]
    address: Mapped[str | None] = mapped_column(String(500))
    insurance_member_id: Mapped[str | None] = mapped_column(String(60))
    updated_at: Mapped[datetime]


class InvoiceCounter(Base):
    """The last invoice number given out per year: the row lock makes numbers gapless."""

    __tablename__ = "invoice_counter"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)


class Invoice(Base):
    """An invoice: a draft has no number yet; issuing gives it the next number of its year,
    which it keeps for good, also when voided.

    Under ``after_session`` and ``monthly`` a client has one invoice per billing period
    (``period_key``: a day ``2026-12-03`` or a month ``2026-12`` of the practice); while it is a
    draft its lines are upcoming charges, and it is issued once ``issue_after`` has passed.
    """

    __tablename__ = "invoice"
    __table_args__ = (
        UniqueConstraint("number"),
        UniqueConstraint("client_id", "period_key"),
        Index("ix_invoice_due_drafts", "status", "issue_after"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20))
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    course_id: Mapped[str | None] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    period_key: Mapped[str | None] = mapped_column(String(10))
    issue_after: Mapped[datetime | None]
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    paid_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    created_at: Mapped[datetime | None]
    issued_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str | None] = mapped_column(String(300))
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice",
        order_by=lambda: [InvoiceLine.service_date, InvoiceLine.created_at],
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
    kind: Mapped[str] = mapped_column(String(30), default="session", server_default="session")
    status: Mapped[str] = mapped_column(String(10), default="active", server_default="active")
    practitioner_id: Mapped[str | None] = mapped_column(String(36))
    service_type_id: Mapped[str | None] = mapped_column(String(36))
    course_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime | None]
    waived_at: Mapped[datetime | None]
    waiver_reason: Mapped[str | None] = mapped_column(String(300))
    # A credit line reverses a line of an issued invoice that no longer stands.
    corrects_line_id: Mapped[str | None] = mapped_column(String(36))
    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class Payment(Base):
    """Money received for an invoice (kind payment) or given back (kind refund), both positive."""

    __tablename__ = "payment"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoice.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(30))
    reference: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(36))


class BillingCourse(Base):
    """A course as billing sees it: how many of its sessions were billed (for the package
    split) and its prepaid package's invoice. Its row lock serialises a course's bookings.
    (``open_invoice_id`` belonged to the retired course_open_invoice mode.)"""

    __tablename__ = "billing_course"
    course_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sessions_billed: Mapped[int] = mapped_column(Integer)
    open_invoice_id: Mapped[str | None] = mapped_column(String(36))
    package_invoice_id: Mapped[str | None] = mapped_column(String(36))


# The first response to a request carrying an Idempotency-Key, replayed on retries.
IDEMPOTENT_REQUESTS = idempotency_table(Base.metadata)


class BilledAppointment(Base):
    """Projection of appointment.* events: the last sequence applied to each appointment."""

    __tablename__ = "billed_appointment"
    appointment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str] = mapped_column(String(36))
    service_type_id: Mapped[str] = mapped_column(String(36))
    practitioner_id: Mapped[str | None] = mapped_column(String(36))
    course_id: Mapped[str | None] = mapped_column(String(36))
    starts_at: Mapped[datetime | None]
    time_zone: Mapped[str | None] = mapped_column(String(64))
    cancelled_by: Mapped[str | None] = mapped_column(String(20))
    late: Mapped[bool] = mapped_column(default=False, server_default=false())


class Authorization(Base):
    """A client's insurance authorization: how many sessions of which CPT codes a payer covers
    between two dates. ``nearing_end_at`` is when billing said it was nearly used up."""

    __tablename__ = "insurance_authorization"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    payer: Mapped[str] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(String(60))
    cpt_codes: Mapped[str] = mapped_column(Text)  # JSON list
    sessions_authorized: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[date]
    valid_to: Mapped[date]
    nearing_end_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AuthorizationUnit(Base):
    """One authorized session used by an attended session (at most one per appointment)."""

    __tablename__ = "authorization_unit"
    appointment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    authorization_id: Mapped[str] = mapped_column(
        ForeignKey("insurance_authorization.id"), index=True
    )
    service_date: Mapped[date]
    used_at: Mapped[datetime]
