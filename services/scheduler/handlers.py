"""What the scheduler does with other services' events: show their outcome at the desk."""

from __future__ import annotations

from services.scheduler.tables import Appointment
from shared.contracts.billing import InvoiceIssued
from shared.contracts.notifications import RemindersPlanned
from shared.handlers import HandlerContext


def show_reminder_plan(event: RemindersPlanned, ctx: HandlerContext) -> None:
    appointment = ctx.session.get(Appointment, event.appointment_id)
    if appointment is None or event.appointment_sequence < appointment.sequence:
        return
    appointment.reminders_planned = len(event.reminders)
    appointment.reminder_status = "planned" if event.reminders else "none"


def show_invoice(event: InvoiceIssued, ctx: HandlerContext) -> None:
    for appointment_id in event.appointment_ids:
        appointment = ctx.session.get(Appointment, appointment_id)
        if appointment is not None:
            appointment.invoice_status = "issued"
            appointment.invoice_number = event.number


HANDLERS = {
    "reminder.planned": [show_reminder_plan],
    "invoice.issued": [show_invoice],
}
