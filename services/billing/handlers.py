"""What billing does when clients, service types and appointments change."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.billing import ledger
from services.billing.fees import Charge, charge_for, course_line_amount, needs_session_fee
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
    PractitionerSnapshot,
    ServiceTypeSnapshot,
)
from shared.handlers import HandlerContext

log = logging.getLogger(__name__)


class ProjectionMissing(RuntimeError):
    """An event refers to something whose own event has not arrived yet; retried later."""


class FeeNotConfigured(RuntimeError):
    """No fee for a billable service type: retried, then dead-lettered until ops set one."""


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
    the invoice only where that differs from what it already charged. An event older than the
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
    charged = _charged_lines(session, event.appointment_id)
    if wanted is not None and len(charged) == 1 and charged[0].kind == wanted.kind:
        charged[0].service_date = service_date
        return
    touched = {line.invoice_id: line.invoice for line in charged}
    for line in charged:
        ledger.void_line(session, line, ctx.now, reason=f"appointment {event.status}")
    if wanted is not None:
        invoice = _add_charge(session, event, wanted, fee, service_type, service_date, ctx)
        touched.pop(invoice.id, None)
    for invoice in touched.values():
        ledger.refresh(
            session, invoice, ctx.now, ctx.emit, ledger.BY_EVENT, f"appointment {event.status}"
        )


def _charged_lines(session: Session, appointment_id: str) -> list[InvoiceLine]:
    return list(
        session.scalars(
            select(InvoiceLine).where(
                InvoiceLine.appointment_id == appointment_id, InvoiceLine.status != "void"
            )
        )
    )


def _add_charge(
    session: Session,
    event: AppointmentFacts,
    charge: Charge,
    fee: Fee | None,
    service_type: ServiceTypeView,
    service_date: object,
    ctx: HandlerContext,
) -> Invoice:
    settings = ledger.settings(session, ctx.now)
    currency = fee.currency if fee else settings.currency
    amount = charge.amount_minor
    course = _locked_course(session, event.course_id) if event.course_id else None
    if charge.kind == "session" and course is not None and fee is not None:
        amount = course_line_amount(
            fee.package_price_minor, fee.package_sessions, course.sessions_billed, amount
        )
        course.sessions_billed += 1
    invoice = _invoice_for(session, event, settings.invoice_mode, course, currency, ctx)
    ledger.add_line(
        session,
        invoice,
        InvoiceLine(
            appointment_id=event.appointment_id,
            kind=charge.kind,
            description=_describe(charge, service_type.name, service_date),
            cpt_code=service_type.cpt_code if charge.kind == "session" else None,
            service_date=service_date,
            amount_minor=amount,
            practitioner_id=event.practitioner_id,
            service_type_id=event.service_type_id,
            course_id=event.course_id,
        ),
        ctx.now,
    )
    if invoice.status == "draft" and invoice.course_id is None:
        ledger.issue(session, invoice, ctx.now, ctx.emit, ledger.BY_EVENT)
    else:
        ledger.refresh(session, invoice, ctx.now, ctx.emit, ledger.BY_EVENT, charge.kind)
    return invoice


def _invoice_for(
    session: Session,
    event: AppointmentFacts,
    mode: str,
    course: BillingCourse | None,
    currency: str,
    ctx: HandlerContext,
) -> Invoice:
    """The appointment's own invoice if it has one still standing; else, for a course in
    ``course_open_invoice`` mode, the course's open draft; else a new invoice."""
    earlier = session.scalars(
        select(Invoice)
        .join(InvoiceLine)
        .where(InvoiceLine.appointment_id == event.appointment_id, Invoice.status != "void")
        .order_by(InvoiceLine.created_at.desc())
    ).first()
    if earlier is not None:
        return earlier
    if mode == "course_open_invoice" and course is not None:
        open_invoice = (
            session.get(Invoice, course.open_invoice_id) if course.open_invoice_id else None
        )
        if open_invoice is not None and open_invoice.status == "draft":
            return open_invoice
        invoice = ledger.new_invoice(event.client_id, currency, ctx.now, course.course_id)
        session.add(invoice)
        course.open_invoice_id = invoice.id
        return invoice
    invoice = ledger.new_invoice(event.client_id, currency, ctx.now, None)
    session.add(invoice)
    return invoice


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
    "appointment.cancelled",
    "appointment.no_show",
    "appointment.completed",
)

HANDLERS = {
    "client.registered": [remember_client],
    "client.updated": [remember_client],
    "practitioner.registered": [remember_practitioner],
    "practitioner.updated": [remember_practitioner],
    "service_type.defined": [remember_service_type],
    "service_type.updated": [remember_service_type],
    **{event_type: [bill_appointment] for event_type in APPOINTMENT_EVENTS},
}
