"""What billing does when clients, service types and appointments change."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import Table, and_, bindparam, exists, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, joinedload

from services.billing import ledger, units
from services.billing.fees import (
    Charge,
    charge_for,
    course_line_amount,
    needs_session_fee,
    session_fee,
)
from services.billing.periods import InvoiceMode, period_of, practice_day
from services.billing.tables import (
    BilledAppointment,
    BillingCourse,
    ClientAccount,
    Fee,
    Invoice,
    InvoiceLine,
    PractitionerAccount,
    PractitionerFee,
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


@dataclass(frozen=True)
class FeeTerms:
    """The fee schedule's row for a service type, as billing an appointment reads it."""

    amount_minor: int
    currency: str
    package_price_minor: int | None
    package_sessions: int | None
    package_prepaid: bool


@dataclass(frozen=True)
class ServiceFacts:
    """What billing an appointment needs of its service type, fee and practitioner."""

    name: str
    cpt_code: str | None
    billable: bool
    fee: FeeTerms | None
    practitioner_fee_minor: int | None


_HELD = cast(Table, BilledAppointment.__table__)
_SERVICE_TYPE = cast(Table, ServiceTypeView.__table__)
_CLIENT = cast(Table, ClientAccount.__table__)
_FEE = cast(Table, Fee.__table__)
_PRACTITIONER_FEE = cast(Table, PractitionerFee.__table__)

# Core statements built once: an appointment event looked up its appointment, service type,
# client, fee and practitioner's fee with five ORM reads, each statement built anew.
_LOCK_HELD = (
    select(_HELD.c.sequence, _HELD.c.cancelled_by, _HELD.c.late)
    .where(_HELD.c.appointment_id == bindparam("appointment_id"))
    .with_for_update()
)
_NEW_HELD = insert(_HELD)
_UPDATE_HELD = update(_HELD).where(_HELD.c.appointment_id == bindparam("held_id"))
_FACTS = (
    select(
        _SERVICE_TYPE.c.name,
        _SERVICE_TYPE.c.cpt_code,
        _SERVICE_TYPE.c.billable,
        exists().where(_CLIENT.c.client_id == bindparam("client_id")).label("client_known"),
        _FEE.c.service_type_id.label("fee_set"),
        _FEE.c.amount_minor,
        _FEE.c.currency,
        _FEE.c.package_price_minor,
        _FEE.c.package_sessions,
        _FEE.c.package_prepaid,
        _PRACTITIONER_FEE.c.amount_minor.label("practitioner_fee_minor"),
    )
    .select_from(_SERVICE_TYPE)
    .outerjoin(_FEE, _FEE.c.service_type_id == _SERVICE_TYPE.c.service_type_id)
    .outerjoin(
        _PRACTITIONER_FEE,
        and_(
            _PRACTITIONER_FEE.c.service_type_id == _SERVICE_TYPE.c.service_type_id,
            _PRACTITIONER_FEE.c.practitioner_id == bindparam("practitioner_id"),
        ),
    )
    .where(_SERVICE_TYPE.c.service_type_id == bindparam("service_type_id"))
)


def _facts(session: Session, event: AppointmentFacts) -> ServiceFacts:
    """The appointment's service type, fee and practitioner's own fee, in one read; raises
    ProjectionMissing while its service type or client has not arrived."""
    row = session.execute(
        _FACTS,
        {
            "service_type_id": event.service_type_id,
            "client_id": event.client_id,
            "practitioner_id": event.practitioner_id or None,
        },
    ).one_or_none()
    if row is None or not row.client_known:
        raise ProjectionMissing(
            f"service type {event.service_type_id} or client {event.client_id} not known yet"
        )
    fee = (
        FeeTerms(
            row.amount_minor,
            row.currency,
            row.package_price_minor,
            row.package_sessions,
            bool(row.package_prepaid),
        )
        if row.fee_set is not None
        else None
    )
    return ServiceFacts(row.name, row.cpt_code, bool(row.billable), fee, row.practitioner_fee_minor)


def bill_appointment(event: AppointmentFacts, ctx: HandlerContext) -> None:
    """Bring the appointment's charge in line with its newest state.

    Every appointment event carries the whole state, so billing works out what the appointment
    should cost now (a session, a late-cancellation fee, a no-show fee or nothing), and changes
    the invoices only where that differs from what it already charged. An event older than the
    one already applied is ignored, so events may arrive in any order.
    """
    session = ctx.session
    held = session.execute(_LOCK_HELD, {"appointment_id": event.appointment_id}).one_or_none()
    if held is not None and held.sequence >= event.sequence:
        log.info("stale appointment event ignored", extra={"event_type": event.TYPE})
        return
    facts = _facts(session, event)
    cancelled_by, late = _write_held(
        session, event, (held.cancelled_by, bool(held.late)) if held is not None else None
    )
    if not facts.billable:
        return
    rules = ledger.rules(session)
    policy = rules.policy
    fee = facts.fee
    if fee is None and needs_session_fee(event.status, policy, cancelled_by, late):
        raise FeeNotConfigured(f"no fee set for service type {facts.name!r}")
    standard = session_fee(fee.amount_minor, facts.practitioner_fee_minor) if fee else 0
    wanted = charge_for(event.status, policy, standard, cancelled_by=cancelled_by, late=late)
    service_date = ledger.local_date(event.starts_at, event.time_zone)
    if event.status in ATTENDED and wanted is not None and wanted.kind == "session":
        units.use_unit(
            session,
            event.appointment_id,
            event.client_id,
            facts.cpt_code,
            service_date,
            ctx.now,
            ctx.emit,
        )
    elif event.status in ("cancelled", "no_show"):
        units.release_unit(session, event.appointment_id, ctx.now, ctx.emit)
    # An appointment billing never saw before has no charge yet: nothing to look up.
    charged = _charged_lines(session, event.appointment_id) if held is not None else []
    if rules.invoice_mode == "at_booking":
        _bill_at_booking(session, event, wanted, charged, facts, service_date, ctx)
    else:
        _bill_when_owed(session, event, wanted, charged, facts, service_date, ctx)


def _write_held(
    session: Session, event: AppointmentFacts, held: tuple[str | None, bool] | None
) -> tuple[str | None, bool]:
    """Record the appointment's newest state (its row locked, or new); who cancelled it and
    whether late, which a cancellation sets and later events keep."""
    cancelled_by, late = held if held is not None else (None, False)
    if isinstance(event, AppointmentCancelled):
        cancelled_by, late = event.cancelled_by, event.late
    state = {
        "sequence": event.sequence,
        "status": event.status,
        "client_id": event.client_id,
        "service_type_id": event.service_type_id,
        "practitioner_id": event.practitioner_id,
        "course_id": event.course_id,
        "starts_at": event.starts_at,
        "time_zone": event.time_zone,
        "cancelled_by": cancelled_by,
        "late": late,
    }
    if held is None:
        session.execute(_NEW_HELD, {"appointment_id": event.appointment_id, **state})
    else:
        session.execute(_UPDATE_HELD, {"held_id": event.appointment_id, **state})
    return cancelled_by, late


def _bill_at_booking(
    session: Session,
    event: AppointmentFacts,
    wanted: Charge | None,
    charged: list[InvoiceLine],
    facts: ServiceFacts,
    service_date: date,
    ctx: HandlerContext,
) -> None:
    """Prepaid: each appointment has its own invoice, issued at booking; a change voids lines
    on it (an invoice left with none is void and keeps its number)."""
    if wanted is not None and len(charged) == 1 and charged[0].kind == wanted.kind:
        charged[0].service_date = service_date
        return
    touched = {line.invoice_id: line.invoice for line in charged}
    for line in charged:
        ledger.void_line(session, line, ctx.now, reason=f"appointment {event.status}")
    if wanted is not None:
        invoice = _earlier_invoice(session, event.appointment_id)
        if invoice is None:
            currency = facts.fee.currency if facts.fee else ledger.rules(session).currency
            invoice = ledger.new_invoice(event.client_id, currency, ctx.now, None)
            session.add(invoice)
        _add_charge(session, invoice, event, wanted, facts, service_date, ctx)
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
    charged: list[InvoiceLine],
    facts: ServiceFacts,
    service_date: date,
    ctx: HandlerContext,
) -> None:
    """After the session (or monthly): the charge sits on the client's draft invoice for the
    period of the session, as an upcoming charge, until the period ends and the issuing loop
    numbers it. A session nobody marks stays charged as attended. An issued invoice is never
    rewritten: a charge that no longer stands is reversed by a credit line on the client's
    current draft, where its replacement (a no-show fee, say) goes too."""
    lines = charged
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
    currency = facts.fee.currency if facts.fee else ledger.rules(session).currency
    if standing:
        target = _current_draft(session, event.client_id, currency, ctx.now)
    else:
        target = _period_draft(session, event.client_id, currency, event.starts_at, ctx.now)
    if keep is not None:
        keep.service_date = service_date
        if keep.invoice_id != target.id:
            ledger.move_line(session, keep, target, ctx.now, ctx.emit)
        return
    _add_charge(session, target, event, wanted, facts, service_date, ctx)
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
    rules = ledger.rules(session)
    day = practice_day(starts_at, rules.time_zone)
    invoice = ledger.period_invoice(
        session, client_id, currency, period_of(rules.invoice_mode, day, rules.time_zone), now
    )
    if invoice.status == "draft":
        return invoice
    return _current_draft(session, client_id, currency, now)


def _current_draft(session: Session, client_id: str, currency: str, now: datetime) -> Invoice:
    rules = ledger.rules(session)
    mode: InvoiceMode = rules.invoice_mode
    if mode == "at_booking":
        mode = "after_session"  # a correction after a change of mode goes on today's invoice
    period = period_of(mode, practice_day(now, rules.time_zone), rules.time_zone)
    invoice = ledger.period_invoice(session, client_id, currency, period, now)
    if invoice.status == "draft":
        return invoice
    # This period's invoice was issued early by hand: an invoice of its own, issued with it.
    extra = ledger.new_invoice(client_id, currency, now, None)
    extra.issue_after = period.issue_after
    session.add(extra)
    return extra


# Each line with its invoice, which billing looks at next: one query where each line's
# invoice took one more.
_CHARGED_LINES = (
    select(InvoiceLine)
    .where(
        InvoiceLine.appointment_id == bindparam("appointment_id"),
        InvoiceLine.status != "void",
        InvoiceLine.kind != "package",
    )
    .options(joinedload(InvoiceLine.invoice))
)


def _charged_lines(session: Session, appointment_id: str) -> list[InvoiceLine]:
    """What this appointment is charged (a course package invoiced with it is the course's)."""
    return list(session.scalars(_CHARGED_LINES, {"appointment_id": appointment_id}))


def _add_charge(
    session: Session,
    invoice: Invoice,
    event: AppointmentFacts,
    charge: Charge,
    facts: ServiceFacts,
    service_date: date,
    ctx: HandlerContext,
) -> None:
    fee = facts.fee
    amount = charge.amount_minor
    description = _describe(charge, facts.name, service_date)
    course = _locked_course(session, event.course_id) if event.course_id else None
    if charge.kind == "session" and course is not None and fee is not None:
        index = course.sessions_billed
        amount = course_line_amount(fee.package_price_minor, fee.package_sessions, index, amount)
        if fee.package_prepaid and fee.package_sessions and index < fee.package_sessions:
            _invoice_package(session, course, fee, event, facts.name, service_date, ctx)
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
            cpt_code=facts.cpt_code if charge.kind == "session" else None,
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
    fee: FeeTerms,
    event: AppointmentFacts,
    service_name: str,
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
            description=f"{service_name}: course package of {fee.package_sessions} sessions",
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
