"""What billing does when clients, service types and appointments change."""

from __future__ import annotations

import logging
import uuid
from zoneinfo import ZoneInfo

from services.billing.numbering import next_invoice_number
from services.billing.tables import (
    BilledAppointment,
    ClientAccount,
    Fee,
    Invoice,
    InvoiceLine,
    ServiceTypeView,
)
from shared.contracts.appointments import AppointmentFacts
from shared.contracts.billing import InvoiceIssued
from shared.contracts.registry_data import ClientSnapshot, ServiceTypeSnapshot
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


def raise_invoice(event: AppointmentFacts, ctx: HandlerContext) -> None:
    if ctx.session.get(BilledAppointment, event.appointment_id) is not None:
        return  # a later event about this appointment got here first
    service_type = ctx.session.get(ServiceTypeView, event.service_type_id)
    client = ctx.session.get(ClientAccount, event.client_id)
    if service_type is None or client is None:
        raise ProjectionMissing(
            f"service type {event.service_type_id} or client {event.client_id} not known yet"
        )
    ctx.session.add(
        BilledAppointment(
            appointment_id=event.appointment_id,
            sequence=event.sequence,
            status=event.status,
            client_id=event.client_id,
            service_type_id=event.service_type_id,
        )
    )
    if not service_type.billable:
        return
    fee = ctx.session.get(Fee, event.service_type_id)
    if fee is None:
        raise FeeNotConfigured(f"no fee set for service type {service_type.name!r}")
    local_start = event.starts_at.astimezone(ZoneInfo(event.time_zone))
    issued_year = ctx.now.astimezone(ZoneInfo(event.time_zone)).year
    invoice = Invoice(
        id=str(uuid.uuid4()),
        number=next_invoice_number(ctx.session, issued_year),
        client_id=event.client_id,
        status="issued",
        currency=fee.currency,
        total_minor=fee.amount_minor,
        issued_at=ctx.now,
    )
    invoice.lines.append(
        InvoiceLine(
            id=str(uuid.uuid4()),
            appointment_id=event.appointment_id,
            description=service_type.name,
            cpt_code=service_type.cpt_code,
            service_date=local_start.date(),
            amount_minor=fee.amount_minor,
        )
    )
    ctx.session.add(invoice)
    ctx.emit(
        InvoiceIssued(
            invoice_id=invoice.id,
            number=invoice.number,
            client_id=invoice.client_id,
            appointment_ids=[event.appointment_id],
            total_minor=invoice.total_minor,
            currency=invoice.currency,
        )
    )


HANDLERS = {
    "client.registered": [remember_client],
    "client.updated": [remember_client],
    "service_type.defined": [remember_service_type],
    "service_type.updated": [remember_service_type],
    "appointment.booked": [raise_invoice],
}
