"""Events billing publishes about invoices, payments and insurance authorizations."""

from __future__ import annotations

from datetime import date
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


class AuthorizationRecorded(Contract):
    """A client's insurance authorization as it now stands (whole state, newest ``revision``
    wins): recorded, changed, or a unit used or released by a session."""

    TYPE = "authorization.recorded"
    authorization_id: str
    revision: int
    client_id: str
    payer: str
    number: str
    cpt_codes: list[str]
    sessions_authorized: int
    valid_from: date
    valid_to: date
    units_used: int


class AuthorizationNearingEnd(Contract):
    """An authorization is down to its last two units or ends within fourteen days: time for the
    desk to ask the payer for more. Published once per authorization."""

    TYPE = "authorization.nearing_end"
    authorization_id: str
    client_id: str
    payer: str
    number: str
    units_remaining: int
    valid_to: date
    reasons: list[str]
