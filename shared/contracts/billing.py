"""Events billing publishes about invoices."""

from __future__ import annotations

from shared.contracts import Contract


class InvoiceIssued(Contract):
    TYPE = "invoice.issued"
    invoice_id: str
    number: str
    client_id: str
    appointment_ids: list[str]
    total_minor: int
    currency: str
