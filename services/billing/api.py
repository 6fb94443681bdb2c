"""Billing's HTTP API: the fee schedule and invoices."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from services.billing.tables import Fee, Invoice, InvoiceLine
from shared.auth import require_role
from shared.http import not_found, parse_body, parse_query
from shared.web import runtime

api = Blueprint("billing_api", __name__, url_prefix="/api/v1")


class FeeFields(BaseModel):
    amount_minor: int = Field(ge=0, le=10_000_000, description="Fee in minor units (cents)")
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class InvoiceQuery(BaseModel):
    appointment_id: str | None = None
    client_id: str | None = None


@api.get("/fee-schedule")
def fee_schedule() -> Any:
    with runtime().db.sessions() as session:
        fees = session.scalars(select(Fee).order_by(Fee.service_type_id))
        return jsonify(items=[fee_json(f) for f in fees])


@api.put("/fee-schedule/<service_type_id>")
@require_role("admin")
def set_fee(service_type_id: str) -> Any:
    body = parse_body(FeeFields)
    rt = runtime()
    with rt.db.transaction() as session:
        fee = session.get(Fee, service_type_id)
        if fee is None:
            fee = Fee(service_type_id=service_type_id)
            session.add(fee)
        fee.amount_minor = body.amount_minor
        fee.currency = body.currency
        fee.updated_at = rt.clock.now()
    return jsonify(fee_json(fee))


@api.get("/invoices")
def list_invoices() -> Any:
    query = parse_query(InvoiceQuery)
    statement = select(Invoice).options(selectinload(Invoice.lines)).order_by(Invoice.number)
    if query.appointment_id:
        statement = statement.join(InvoiceLine).where(
            InvoiceLine.appointment_id == query.appointment_id
        )
    if query.client_id:
        statement = statement.where(Invoice.client_id == query.client_id)
    with runtime().db.sessions() as session:
        return jsonify(items=[invoice_json(i) for i in session.scalars(statement).unique()])


@api.get("/invoices/<invoice_id>")
def get_invoice(invoice_id: str) -> Any:
    with runtime().db.sessions() as session:
        invoice = session.get(Invoice, invoice_id, options=[selectinload(Invoice.lines)])
        if invoice is None:
            raise not_found("invoice")
        return jsonify(invoice_json(invoice))


def fee_json(fee: Fee) -> dict[str, Any]:
    return {
        "service_type_id": fee.service_type_id,
        "amount_minor": fee.amount_minor,
        "currency": fee.currency,
    }


def invoice_json(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "number": invoice.number,
        "client_id": invoice.client_id,
        "status": invoice.status,
        "currency": invoice.currency,
        "total_minor": invoice.total_minor,
        "issued_at": invoice.issued_at.isoformat(),
        "lines": [
            {
                "appointment_id": line.appointment_id,
                "description": line.description,
                "cpt_code": line.cpt_code,
                "service_date": line.service_date.isoformat(),
                "amount_minor": line.amount_minor,
            }
            for line in invoice.lines
        ],
    }
