"""What billing does when clients, service types and appointments change."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import cast

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.billing import ledger, units
from services.billing.fees import Charge, charge_for, course_line_amount, needs_session_fee
from services.billing.periods import InvoiceMode, period_of, practice_day
from services.billing.tables import (
    BilledAppointment,
    BillingCourse,
    ClientAccount,
    Fee,
    Invoice,
    InvoiceLine,
    PractitionerAccount,
    ServiceTypeView,
)
from shared.contracts.appointments import AppointmentCancelled, AppointmentFacts
from shared.contracts.registry_data import (
    ClientSnapshot,
    PracticeUpdated,
    PractitionerSnapshot,
    ServiceTypeSnapshot,
)
from shared.handlers import Handler, HandlerContext

log = logging.getLogger(__name__)


# Marked as attended at the desk; a session still unmarked when its invoice is issued counts too.
ATTENDED = ("checked_in", "completed")


class ProjectionMissing(RuntimeError):
    """An event refers to something whose own event has not arrived yet; retried later."""


class FeeNotConfigured(RuntimeError):
    """No fee for a billable service type: retried, then dead-lettered until ops set one."""


def remember_practice(event: PracticeUpdated, ctx: HandlerContext) -> None:
    """The practice as the scheduler keeps it: invoices print its name and address, and its
    zone decides which day and which year (invoice numbers) a moment belongs to."""
    row = ledger.settings(ctx.session, ctx.now)
    if row.practice_revision >= event.revision:
        return
    row.practice_name = event.name
    row.address = event.address or ""
    row.time_zone = event.time_zone
    row.currency = event.currency
    row.practice_revision = event.revision
    row.updated_at = ctx.now
    ctx.session.add(row)


def remember_client(event: ClientSnapshot, ctx: HandlerContext) -> None:
    account = ctx.session.get(ClientAccount, event.client_id)
    if account is not None and account.revision >= event.revision:
        return
    if account is None:
        account = ClientAccount(client_id=event.client_id)
        ctx.session.add(account)
    account.revision = event.revision
    account.name = f"{event.first_name} {event.last_name}"
    account.email = event.email


def remember_service_type(event: ServiceTypeSnapshot, ctx: HandlerContext) -> None:
    view = ctx.session.get(ServiceTypeView, event.service_type_id)
    if view is not None and view.revision >= event.revision:
        return
    if view is None:
        view = ServiceTypeView(service_type_id=event.service_type_id)
        ctx.session.add(view)
    view.revision = event.revision
    view.name = event.name
    view.cpt_code = event.cpt_code
    view.billable = event.billable


def remember_practitioner(event: PractitionerSnapshot, ctx: HandlerContext) -> None:
    view = ctx.session.get(PractitionerAccount, event.practitioner_id)
    if view is not None and view.revision >= event.revision:
        return
    if view is None:
        view = PractitionerAccount(practitioner_id=event.practitioner_id)
        ctx.session.add(view)
    view.revision = event.revision
    view.display_name = event.display_name


def bill_appointment(event: AppointmentFacts, ctx: HandlerContext) -> None:
    """Bring the appointment's charge in line with its newest state.

    Every appointment event carries the whole state, so billing works out what the appointment
    should cost now (a session, a late-cancellation fee, a no-show fee or nothing), and changes
    the invoices only where that differs from what it already charged. An event older than the
    one already applied is ignored, so events may arrive in any order.
    """
    session = ctx.session
    held = session.scalars(
        select(BilledAppointment)
        .where(BilledAppointment.appointment_id == event.appointment_id)
        .with_for_update()
    ).one_or_none()
    if held is not None and held.sequence >= event.sequence:
        log.info("stale appointment event ignored", extra={"event_type": event.TYPE})
        return
    service_type = session.get(ServiceTypeView, event.service_type_id)
    client = session.get(ClientAccount, event.client_id)
    if service_type is None or client is None:
        raise ProjectionMissing(
            f"service type {event.service_type_id} or client {event.client_id} not known yet"
        )
    if held is None:
        held = BilledAppointment(appointment_id=event.appointment_id)
        session.add(held)
    held.sequence = event.sequence
    held.status = event.status
    held.client_id = event.client_id
    held.service_type_id = event.service_type_id
    held.practitioner_id = event.practitioner_id
    held.course_id = event.course_id
    held.starts_at = event.starts_at
    held.time_zone = event.time_zone
    if isinstance(event, AppointmentCancelled):
        held.cancelled_by, held.late = event.cancelled_by, event.late
    if not service_type.billable:
        return
    settings = ledger.settings(session, ctx.now)
    policy = ledger.policy_of(settings)
    fee = session.get(Fee, event.service_type_id)
    if fee is None and needs_session_fee(event.status, policy, held.cancelled_by, bool(held.late)):
        raise FeeNotConfigured(f"no fee set for service type {service_type.name!r}")
    standard = ledger.session_fee_of(session, fee, event.practitioner_id) if fee else 0
    wanted = charge_for(
        event.status, policy, standard, cancelled_by=held.cancelled_by, late=bool(held.late)
    )
    service_date = ledger.local_date(event.starts_at, event.time_zone)
    if event.status in ATTENDED and wanted is not None and wanted.kind == "session":
        units.use_unit(
            session,
            event.appointment_id,
            event.client_id,
            service_type.cpt_code,
            service_date,
            ctx.now,
            ctx.emit,
        )
    elif event.status in ("cancelled", "no_show"):
        units.release_unit(session, event.appointment_id, ctx.now, ctx.emit)
    if settings.invoice_mode == "at_booking":
        _bill_at_booking(session, event, wanted, fee, service_type, service_date, ctx)
    else:
        _bill_when_owed(session, event, wanted, fee, service_type, service_date, ctx)


def _bill_at_booking(
    session: Session,
    event: AppointmentFacts,
    wanted: Charge | None,
    fee: Fee | None,
    service_type: ServiceTypeView,
    service_date: date,
    ctx: HandlerContext,
) -> None:
    """Prepaid: each appointment has its own invoice, issued at booking; a change voids lines
    on it (an invoice left with none is void and keeps its number)."""
    charged = _charged_lines(session, event.appointment_id)
    if wanted is not None and len(charged) == 1 and charged[0].kind == wanted.kind:
        charged[0].service_date = service_date
        return
    touched = {line.invoice_id: line.invoice for line in charged}
    for line in charged:
        ledger.void_line(session, line, ctx.now, reason=f"appointment {event.status}")
    if wanted is not None:
        invoice = _earlier_invoice(session, event.appointment_id)
        if invoice is None:
            currency = fee.currency if fee else ledger.settings(session).currency
            invoice = ledger.new_invoice(event.client_id, currency, ctx.now, None)
            session.add(invoice)
        _add_charge(session, invoice, event, wanted, fee, service_type, service_date, ctx)
        if invoice.status == "draft":
            ledger.issue(session, invoice, ctx.now, ctx.emit, ledger.BY_EVENT)
        else:
            ledger.refresh(session, invoice, ctx.now, ctx.emit, ledger.BY_EVENT, wanted.kind)
        touched.pop(invoice.id, None)
    for invoice in touched.values():
        ledger.refresh(
            session, invoice, ctx.now, ctx.emit, ledger.BY_EVENT, f"appointment {event.status}"
        )


def _bill_when_owed(
    session: Session,
    event: AppointmentFacts,
    wanted: Charge | None,
    fee: Fee | None,
    service_type: ServiceTypeView,
    service_date: date,
    ctx: HandlerContext,
) -> None:
    """After the session (or monthly): the charge sits on the client's draft invoice for the
    period of the session, as an upcoming charge, until the period ends and the issuing loop
    numbers it. A session nobody marks stays charged as attended. An issued invoice is never
    rewritten: a charge that no longer stands is reversed by a credit line on the client's
    current draft, where its replacement (a no-show fee, say) goes too."""
    lines = _charged_lines(session, event.appointment_id)
    drafted = [line for line in lines if line.invoice.status == "draft"]
    credited = {line.corrects_line_id for line in lines if line.invoice.status != "draft"}
    standing = [
        line
        for line in lines
        if line.invoice.status != "draft" and line.kind != "credit" and line.id not in credited
    ]
    if wanted is not None and [line.kind for line in standing] == [wanted.kind]:
        _remove_draft_lines(session, drafted, event, ctx)
        return
    keep = (
        drafted[0]
        if wanted is not None
        and not standing
        and len(drafted) == 1
        and drafted[0].kind == wanted.kind
        else None
    )
    _remove_draft_lines(session, [line for line in drafted if line is not keep], event, ctx)
    for line in standing:
        draft = _current_draft(session, event.client_id, line.invoice.currency, ctx.now)
        ledger.add_line(session, draft, ledger.credit_for(line, event.status), ctx.now)
        ledger.refresh(session, draft, ctx.now, ctx.emit, ledger.BY_EVENT, "credit")
    if wanted is None:
        return
    currency = fee.currency if fee else ledger.settings(session).currency
    if standing:
        target = _current_draft(session, event.client_id, currency, ctx.now)
    else:
        target = _period_draft(session, event.client_id, currency, event.starts_at, ctx.now)
    if keep is not None:
        keep.service_date = service_date
        if keep.invoice_id != target.id:
            ledger.move_line(session, keep, target, ctx.now, ctx.emit)
        return
    _add_charge(session, target, event, wanted, fee, service_type, service_date, ctx)
    ledger.refresh(session, target, ctx.now, ctx.emit, ledger.BY_EVENT, wanted.kind)


def _remove_draft_lines(
    session: Session, lines: list[InvoiceLine], event: AppointmentFacts, ctx: HandlerContext
) -> None:
    for line in lines:
        ledger.remove_draft_line(session, line, ctx.now, ctx.emit, f"appointment {event.status}")


def _period_draft(
    session: Session, client_id: str, currency: str, starts_at: datetime, now: datetime
) -> Invoice:
    """The client's draft for the period the session falls in, or, when that period's invoice
    is already issued, the draft for the period we are in now."""
    settings = ledger.settings(session)
    mode = cast(InvoiceMode, settings.invoice_mode)
    day = practice_day(starts_at, settings.time_zone)
    invoice = ledger.period_invoice(
        session, client_id, currency, period_of(mode, day, settings.time_zone), now
    )
    if invoice.status == "draft":
        return invoice
    return _current_draft(session, client_id, currency, now)


def _current_draft(session: Session, client_id: str, currency: str, now: datetime) -> Invoice:
    settings = ledger.settings(session)
    mode = cast(InvoiceMode, settings.invoice_mode)
    if mode == "at_booking":
        mode = "after_session"  # a correction after a change of mode goes on today's invoice
    period = period_of(mode, practice_day(now, settings.time_zone), settings.time_zone)
    invoice = ledger.period_invoice(session, client_id, currency, period, now)
    if invoice.status == "draft":
        return invoice
    # This period's invoice was issued early by hand: an invoice of its own, issued with it.
    extra = ledger.new_invoice(client_id, currency, now, None)
    extra.issue_after = period.issue_after
    session.add(extra)
    return extra


def _charged_lines(session: Session, appointment_id: str) -> list[InvoiceLine]:
    """What this appointment is charged (a course package invoiced with it is the course's)."""
    return list(
        session.scalars(
            select(InvoiceLine).where(
                InvoiceLine.appointment_id == appointment_id,
                InvoiceLine.status != "void",
                InvoiceLine.kind != "package",
            )
        )
    )


def _add_charge(
    session: Session,
    invoice: Invoice,
    event: AppointmentFacts,
    charge: Charge,
    fee: Fee | None,
    service_type: ServiceTypeView,
    service_date: date,
    ctx: HandlerContext,
) -> None:
    amount = charge.amount_minor
    description = _describe(charge, service_type.name, service_date)
    course = _locked_course(session, event.course_id) if event.course_id else None
    if charge.kind == "session" and course is not None and fee is not None:
        index = course.sessions_billed
        amount = course_line_amount(fee.package_price_minor, fee.package_sessions, index, amount)
        if fee.package_prepaid and fee.package_sessions and index < fee.package_sessions:
            _invoice_package(session, course, fee, event, service_type, service_date, ctx)
            amount = 0
            description += (
                f" (prepaid course package, session {index + 1} of {fee.package_sessions})"
            )
        course.sessions_billed += 1
    ledger.add_line(
        session,
        invoice,
        InvoiceLine(
            appointment_id=event.appointment_id,
            kind=charge.kind,
            description=description,
            cpt_code=service_type.cpt_code if charge.kind == "session" else None,
            service_date=service_date,
            amount_minor=amount,
            practitioner_id=event.practitioner_id,
            service_type_id=event.service_type_id,
            course_id=event.course_id,
        ),
        ctx.now,
    )


def _invoice_package(
    session: Session,
    course: BillingCourse,
    fee: Fee,
    event: AppointmentFacts,
    service_type: ServiceTypeView,
    service_date: date,
    ctx: HandlerContext,
) -> None:
    """A prepaid package is invoiced in full, and issued, with the first of its sessions billed;
    the package's sessions then cost nothing on their own invoices."""
    if course.package_invoice_id is not None or fee.package_price_minor is None:
        return
    invoice = ledger.new_invoice(event.client_id, fee.currency, ctx.now, course.course_id)
    session.add(invoice)
    ledger.add_line(
        session,
        invoice,
        InvoiceLine(
            appointment_id=event.appointment_id,
            kind="package",
            description=f"{service_type.name}: course package of {fee.package_sessions} sessions",
            cpt_code=None,
            service_date=service_date,
            amount_minor=fee.package_price_minor,
            practitioner_id=event.practitioner_id,
            service_type_id=event.service_type_id,
            course_id=course.course_id,
        ),
        ctx.now,
    )
    ledger.issue(session, invoice, ctx.now, ctx.emit, ledger.BY_EVENT)
    course.package_invoice_id = invoice.id


def _earlier_invoice(session: Session, appointment_id: str) -> Invoice | None:
    """The appointment's own invoice if it has one still standing."""
    return session.scalars(
        select(Invoice)
        .join(InvoiceLine)
        .where(
            InvoiceLine.appointment_id == appointment_id,
            InvoiceLine.kind != "package",
            Invoice.status != "void",
        )
        .order_by(InvoiceLine.created_at.desc())
    ).first()


def _locked_course(session: Session, course_id: str) -> BillingCourse:
    insert_ = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert_(BillingCourse)
        .values(course_id=course_id, sessions_billed=0, open_invoice_id=None)
        .on_conflict_do_nothing(index_elements=["course_id"])
    )
    return session.scalars(
        select(BillingCourse)
        .where(BillingCourse.course_id == course_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _describe(charge: Charge, service_name: str, service_date: object) -> str:
    if charge.kind == "late_cancellation_fee":
        return f"Late cancellation fee: {service_name} on {service_date}"
    if charge.kind == "no_show_fee":
        return f"Missed appointment fee: {service_name} on {service_date}"
    return service_name


APPOINTMENT_EVENTS = (
    "appointment.booked",
    "appointment.rescheduled",
    "appointment.confirmed",
    "appointment.checked_in",
    "appointment.cancelled",
    "appointment.no_show",
    "appointment.completed",
)

HANDLERS: dict[str, list[Handler]] = {
    "practice.updated": [remember_practice],
    "client.registered": [remember_client],
    "client.updated": [remember_client],
    "practitioner.registered": [remember_practitioner],
    "practitioner.updated": [remember_practitioner],
    "service_type.defined": [remember_service_type],
    "service_type.updated": [remember_service_type],
    **{event_type: [bill_appointment] for event_type in APPOINTMENT_EVENTS},
}
