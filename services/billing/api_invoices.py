"""Billing's HTTP API for money: invoices (JSON, HTML, PDF), issuing a course's open invoice,
payments and refunds, waiving a fee, client balances and statements, superbills."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from services.billing import access, documents, ledger
from services.billing.fees import FEE_KINDS
from services.billing.invoicing import payment_problem, refund_problem
from services.billing.money import format_money
from services.billing.periods import practice_day
from services.billing.schemas import Balances, InvoiceWithPayments, PaymentJson, PaymentReceipt
from services.billing.tables import IDEMPOTENT_REQUESTS, Invoice, InvoiceLine, Payment
from shared.auth import current_principal, require_role
from shared.http import conflict, not_found, parse_body, parse_query
from shared.idempotency import replay_or_run
from shared.pagination import PageQuery, paginate
from shared.web import runtime

money = Blueprint("billing_money", __name__, url_prefix="/api/v1")


class InvoiceQuery(PageQuery):
    appointment_id: str | None = None
    client_id: str | None = None
    status: Literal["draft", "issued", "partly_paid", "paid", "void"] | None = None


class PaymentFields(BaseModel):
    amount_minor: int = Field(gt=0, le=100_000_000)
    method: Literal["card", "cash", "check", "bank_transfer", "insurance", "other"]
    reference: str | None = Field(default=None, max_length=100)


class WaiverFields(BaseModel):
    reason: str = Field(min_length=3, max_length=300)


class PaymentQuery(PageQuery):
    client_id: str | None = None
    invoice_id: str | None = None


class PeriodQuery(BaseModel):
    client_id: str
    from_: date = Field(alias="from")
    to: date
    format: Literal["json", "pdf", "html"] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PeriodQuery:
        if self.to < self.from_:
            raise ValueError("'to' must not be before 'from'")
        return self


class BalanceQuery(BaseModel):
    q: str | None = Field(default=None, min_length=1, max_length=100)
    client_id: str | None = Field(default=None, max_length=36)


class StatementQuery(BaseModel):
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None


def _actor() -> ledger.Actor:
    principal = current_principal()
    return ledger.Actor(principal.user_id, principal.role)


def _locked_invoice(session: Session, invoice_id: str) -> Invoice:
    invoice = session.scalars(
        select(Invoice).where(Invoice.id == invoice_id).with_for_update()
    ).one_or_none()
    if invoice is None:
        raise not_found("invoice")
    access.require_client(session, invoice.client_id, "invoice")
    return invoice


# -- invoices -----------------------------------------------------------------------------------


@money.get("/invoices")
def list_invoices() -> Any:
    query = parse_query(InvoiceQuery)
    statement = select(Invoice).options(selectinload(Invoice.lines))
    if query.appointment_id:
        statement = statement.where(
            Invoice.id.in_(
                select(InvoiceLine.invoice_id).where(
                    InvoiceLine.appointment_id == query.appointment_id
                )
            )
        )
    if query.client_id:
        statement = statement.where(Invoice.client_id == query.client_id)
    if query.status:
        statement = statement.where(Invoice.status == query.status)
    # In the order they were made; invoices made at one instant by number (drafts first).
    number = func.coalesce(Invoice.number, "")
    keys = (Invoice.created_at, number, Invoice.id)
    with runtime().db.sessions() as session:
        own = access.own_clients(session)
        if own is not None:
            statement = statement.where(Invoice.client_id.in_(own))
        locale = ledger.settings(session).locale
        return jsonify(
            paginate(
                session,
                statement,
                keys,
                query,
                lambda i: documents.listed_invoice(ledger.invoice_json(i), locale),
                (datetime.fromisoformat, str, str),
                key_of=lambda i: (i.created_at, i.number or "", i.id),
            )
        )


@money.get("/invoices/<invoice_id>")
def get_invoice(invoice_id: str) -> Any:
    """JSON by default; ``.html`` / ``.pdf`` (or Accept: text/html, application/pdf) print it."""
    wanted = "json"
    for suffix in ("html", "pdf"):
        if invoice_id.endswith(f".{suffix}"):
            invoice_id, wanted = invoice_id[: -len(suffix) - 1], suffix
    if wanted == "json":
        best = request.accept_mimetypes.best_match(
            ["application/json", "text/html", "application/pdf"], default="application/json"
        )
        wanted = {"text/html": "html", "application/pdf": "pdf"}.get(best or "", "json")
    with runtime().db.sessions() as session:
        invoice = session.get(Invoice, invoice_id, options=[selectinload(Invoice.lines)])
        if invoice is None:
            raise not_found("invoice")
        access.require_client(session, invoice.client_id, "invoice")
        if wanted == "json":
            body: InvoiceWithPayments = {
                **ledger.invoice_json(invoice),
                "payments": [payment_json(p) for p in ledger.payments_of(session, invoice.id)],
            }
            return jsonify(body)
        doc = documents.invoice_document(session, invoice)
    if wanted == "html":
        return Response(documents.invoice_html(doc), mimetype="text/html")
    return _pdf(documents.invoice_pdf(doc), f"invoice-{doc['invoice']['number'] or 'draft'}.pdf")


@money.post("/invoices/<invoice_id>/issue")
def issue_invoice(invoice_id: str) -> Any:
    """Issue a course's open draft invoice: it gets its number and no further lines."""
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        invoice = _locked_invoice(session, invoice_id)
        if invoice.status != "draft":
            raise conflict(f"This invoice is already {invoice.status}.")
        ledger.issue(session, invoice, now, lambda e: rt.emitter.emit(session, e), _actor())
        body = ledger.invoice_json(invoice)
    rt.outbox_written()
    return jsonify(body)


@money.post("/invoices/<invoice_id>/payments")
def record_payment(invoice_id: str) -> Any:
    return _money_change(invoice_id, "payment")


@money.post("/invoices/<invoice_id>/refunds")
@require_role("admin")
def record_refund(invoice_id: str) -> Any:
    return _money_change(invoice_id, "refund")


def _money_change(invoice_id: str, kind: str) -> Any:
    body = parse_body(PaymentFields)
    rt = runtime()
    now = rt.clock.now()
    actor = _actor()
    with rt.db.transaction() as session:

        def run() -> tuple[PaymentReceipt, int]:
            invoice = _locked_invoice(session, invoice_id)
            locale = ledger.settings(session).locale
            currency = invoice.currency

            def show(minor: int) -> str:
                return format_money(minor, currency, locale)

            problem = (
                payment_problem(
                    invoice.status,  # type: ignore[arg-type]
                    invoice.total_minor,
                    invoice.paid_minor,
                    body.amount_minor,
                    show,
                )
                if kind == "payment"
                else refund_problem(invoice.paid_minor, body.amount_minor, show)
            )
            if problem:
                raise conflict(problem)
            payment = ledger.record_payment(
                session,
                invoice,
                kind=kind,
                amount_minor=body.amount_minor,
                method=body.method,
                reference=body.reference,
                now=now,
                emit=lambda e: rt.emitter.emit(session, e),
                actor=actor,
            )
            session.flush()
            shown = format_money(
                payment.amount_minor, payment.currency, ledger.settings(session).locale
            )
            receipt: PaymentReceipt = {
                **payment_json(payment),
                "amount_display": shown,
                "invoice": ledger.invoice_json(invoice),
            }
            return receipt, 201

        response, replayed = replay_or_run(session, IDEMPOTENT_REQUESTS, actor.user_id, now, run)
    if not replayed:
        rt.outbox_written()
    return response


@money.post("/invoices/<invoice_id>/lines/<line_id>/waive")
@require_role("admin")
def waive_fee(invoice_id: str, line_id: str) -> Any:
    body = parse_body(WaiverFields)
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        invoice = _locked_invoice(session, invoice_id)
        line = next((line for line in invoice.lines if line.id == line_id), None)
        if line is None:
            raise not_found("line on this invoice")
        if line.kind not in FEE_KINDS:
            raise conflict("Only a late-cancellation or no-show fee can be waived.")
        if line.status != "active":
            raise conflict(f"This fee is already {line.status}.")
        ledger.waive(
            session, line, body.reason, now, lambda e: rt.emitter.emit(session, e), _actor()
        )
        result = ledger.invoice_json(invoice)
    rt.outbox_written()
    return jsonify(result)


# -- payments, balances, statements --------------------------------------------------------------


@money.get("/payments")
def list_payments() -> Any:
    query = parse_query(PaymentQuery)
    statement = select(Payment)
    if query.client_id:
        statement = statement.where(Payment.client_id == query.client_id)
    if query.invoice_id:
        statement = statement.where(Payment.invoice_id == query.invoice_id)
    keys = (Payment.recorded_at, Payment.id)
    with runtime().db.sessions() as session:
        own = access.own_clients(session)
        if own is not None:
            statement = statement.where(Payment.client_id.in_(own))
        return jsonify(
            paginate(session, statement, keys, query, payment_json, (datetime.fromisoformat, str))
        )


@money.get("/balances")
def list_balances() -> Any:
    """Clients with something open, aged, with links; ``q`` finds clients by name."""
    query = parse_query(BalanceQuery)
    rt = runtime()
    with rt.db.sessions() as session:
        today = _practice_today(session, rt.clock.now())
        items = documents.balances(session, today, query.client_id, query.q)
        own = access.own_clients(session)
        if own is not None:
            items = [i for i in items if i["client_id"] in own]
        answer: Balances = {
            "as_of": today.isoformat(),
            "items": items,
            "totals": documents.aging_totals(session, items),
        }
        return jsonify(answer)


@money.get("/balances/<client_id>")
def balance(client_id: str) -> Any:
    rt = runtime()
    with rt.db.sessions() as session:
        access.require_client(session, client_id)
        today = _practice_today(session, rt.clock.now())
        return jsonify(documents.balance_of(session, client_id, today))


def _practice_today(session: Session, now: datetime) -> date:
    return practice_day(now, ledger.settings(session).time_zone)


@money.get("/balances/<client_id>/statement")
def statement(client_id: str) -> Any:
    query = parse_query(StatementQuery)
    with runtime().db.sessions() as session:
        access.require_client(session, client_id)
        return jsonify(documents.statement_of(session, client_id, query.from_, query.to))


# -- superbills ---------------------------------------------------------------------------------


@money.get("/superbills")
def superbill() -> Any:
    query = parse_query(PeriodQuery)
    wanted: str | None = query.format
    if wanted is None:
        best = request.accept_mimetypes.best_match(
            ["application/json", "application/pdf", "text/html"], default="application/json"
        )
        wanted = {"application/pdf": "pdf", "text/html": "html"}.get(best or "", "json")
    with runtime().db.sessions() as session:
        access.require_client(session, query.client_id, "client known to billing")
        doc = documents.superbill_document(session, query.client_id, query.from_, query.to)
    if doc is None:
        raise not_found("client known to billing")
    if wanted == "pdf":
        return _pdf(documents.superbill_pdf(doc), f"superbill-{query.from_}-{query.to}.pdf")
    if wanted == "html":
        return Response(documents.superbill_html(doc), mimetype="text/html")
    return jsonify(doc)


def _pdf(content: bytes, filename: str) -> Response:
    response = Response(content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def payment_json(payment: Payment) -> PaymentJson:
    return {
        "id": payment.id,
        "invoice_id": payment.invoice_id,
        "client_id": payment.client_id,
        "kind": payment.kind,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "method": payment.method,
        "reference": payment.reference,
        "recorded_at": payment.recorded_at.isoformat(),
    }
