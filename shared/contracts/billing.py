"""Events billing publishes about invoices."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from shared.contracts import Contract


class InvoiceIssued(Contract):
    TYPE = "invoice.issued"
    invoice_id: str
    number: str
    client_id: str
    appointment_ids: list[str]
    total_minor: int
    currency: str


class InvoiceVoided(Contract):
    TYPE = "invoice.voided"
    invoice_id: str
    number: str
    client_id: str
    appointment_ids: list[str]
    reason: str


class InvoicePaid(Contract):
    TYPE = "invoice.paid"
    invoice_id: str
    number: str
    client_id: str
    appointment_ids: list[str]
    total_minor: int
    currency: str
    paid_at: AwareDatetime


class PaymentRecorded(Contract):
    """A payment (positive) or refund (kind=refund, positive amount given back) on an invoice."""

    TYPE = "payment.recorded"
    payment_id: str
    invoice_id: str
    client_id: str
    kind: Literal["payment", "refund"]
    amount_minor: int
    currency: str
    method: str
    recorded_at: AwareDatetime
