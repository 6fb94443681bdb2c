"""What a client and an insurer read: invoices, statements and superbills as plain data, and
that data printed as HTML (Jinja2 templates) and PDF (fpdf2)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, NotRequired, cast
from zoneinfo import ZoneInfo

from fpdf import FPDF
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from typing_extensions import TypedDict

from services.billing import ledger, units
from services.billing.invoicing import AGING_BUCKETS, InvoiceState, aging_bucket, open_amount
from services.billing.money import DEFAULT_LOCALE, format_day, format_money
from services.billing.schemas import (
    AgingTotals,
    AuthorizationRef,
    BalanceLinks,
    BalanceRow,
    ClientBalance,
    ClientJson,
    InvoiceJson,
    InvoiceLinks,
    ListedInvoice,
    OpenInvoice,
    PracticeJson,
    Statement,
    StatementEntry,
    Superbill,
    SuperbillService,
    UpcomingCharge,
)
from services.billing.tables import (
    ClientAccount,
    ClientBillingProfile,
    Invoice,
    InvoiceLine,
    Payment,
    PractitionerAccount,
)

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
FONTS = Path(__file__).parent / "fonts"


def money(minor: int, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    return format_money(minor, currency, locale)


@pass_context
def _money_filter(context: Any, minor: int, currency: str) -> str:
    return format_money(minor, currency, context["practice"].get("locale") or DEFAULT_LOCALE)


@pass_context
def _day_filter(context: Any, value: str) -> str:
    practice = context["practice"]
    return format_day(value, practice["time_zone"], practice.get("locale") or DEFAULT_LOCALE)


TEMPLATES.filters["money"] = _money_filter
TEMPLATES.filters["day"] = _day_filter


def practice_json(session: Session) -> PracticeJson:
    row = ledger.settings(session)
    return {
        "name": row.practice_name,
        "address": row.address,
        "npi": row.npi,
        "tax_id": row.tax_id,
        "currency": row.currency,
        "time_zone": row.time_zone,
        "locale": row.locale,
    }


def client_json(session: Session, client_id: str) -> ClientJson | None:
    account = session.get(ClientAccount, client_id)
    if account is None:
        return None
    profile = session.get(ClientBillingProfile, client_id)
    return {
        "client_id": client_id,
        "name": account.name,
        "email": account.email,
        "date_of_birth": profile.date_of_birth.isoformat()
        if profile and profile.date_of_birth
        else None,
        "address": profile.address if profile else None,
        "insurance_member_id": profile.insurance_member_id if profile else None,
        "diagnosis_codes": json.loads(profile.diagnosis_codes) if profile else [],
    }


def invoice_document(session: Session, invoice: Invoice) -> dict[str, Any]:
    payments = ledger.payments_of(session, invoice.id)
    practice = practice_json(session)
    zone = ZoneInfo(practice["time_zone"])
    return {
        "practice": practice,
        "client": client_json(session, invoice.client_id) or {"name": invoice.client_id},
        "invoice": ledger.invoice_json(invoice),
        "authorizations": _authorizations(session, ledger.appointment_ids(invoice)),
        "payments": [
            {
                "kind": p.kind,
                "amount_minor": p.amount_minor,
                "method": p.method,
                "reference": p.reference,
                "recorded_at": p.recorded_at.astimezone(zone).date().isoformat(),
            }
            for p in payments
        ],
    }


def _authorizations(session: Session, appointment_ids: list[str]) -> list[AuthorizationRef]:
    """The insurance authorizations these sessions used units of, for the payer to match."""
    used = units.numbers_for(session, appointment_ids)
    distinct = {a.id: a for a in used.values()}
    return [{"number": a.number, "payer": a.payer} for a in distinct.values()]


def invoice_html(doc: dict[str, Any]) -> str:
    return TEMPLATES.get_template("invoice.html").render(**doc)


def superbill_html(doc: Superbill) -> str:
    return TEMPLATES.get_template("superbill.html").render(**doc)


# -- balances and statements ---------------------------------------------------------------------


class _Entry(TypedDict):
    """A movement on a client's account, at the instant it happened."""

    at: datetime
    kind: str
    reference: str | None
    invoice_id: str
    status: NotRequired[str]
    method: NotRequired[str]
    amount_minor: int
    currency: str


def _ledger_entries(session: Session, client_id: str) -> list[_Entry]:
    """Every movement on a client's account: issued invoices (at their current total) and
    payments."""
    entries: list[_Entry] = []
    invoices = session.scalars(
        select(Invoice).where(Invoice.client_id == client_id, Invoice.issued_at.is_not(None))
    )
    for invoice in invoices:
        assert invoice.issued_at is not None  # selected for it
        entries.append(
            {
                "at": invoice.issued_at,
                "kind": "invoice",
                "reference": invoice.number,
                "invoice_id": invoice.id,
                "status": invoice.status,
                "amount_minor": 0 if invoice.status == "void" else invoice.total_minor,
                "currency": invoice.currency,
            }
        )
    for payment in session.scalars(select(Payment).where(Payment.client_id == client_id)):
        sign = -1 if payment.kind == "payment" else 1
        entries.append(
            {
                "at": payment.recorded_at,
                "kind": payment.kind,
                "reference": payment.reference,
                "invoice_id": payment.invoice_id,
                "method": payment.method,
                "amount_minor": sign * payment.amount_minor,
                "currency": payment.currency,
            }
        )
    entries.sort(key=lambda e: (e["at"], e["kind"] != "invoice"))
    return entries


def balance_of(session: Session, client_id: str, today: date) -> ClientBalance:
    entries = _ledger_entries(session, client_id)
    practice = practice_json(session)
    currency = entries[0]["currency"] if entries else practice["currency"]
    locale = practice["locale"] or DEFAULT_LOCALE
    invoiced = sum(e["amount_minor"] for e in entries if e["kind"] == "invoice")
    paid = -sum(e["amount_minor"] for e in entries if e["kind"] == "payment")
    refunded = sum(e["amount_minor"] for e in entries if e["kind"] == "refund")
    upcoming = upcoming_of(session, client_id)
    upcoming_minor = sum(charge["amount_minor"] for charge in upcoming)
    aged = balances(session, today, client_id=client_id)

    def shown(minor: int) -> str:
        return format_money(minor, currency, locale)

    return {
        "client_id": client_id,
        "currency": currency,
        "invoiced_minor": invoiced,
        "paid_minor": paid,
        "refunded_minor": refunded,
        "balance_minor": invoiced - paid + refunded,
        "upcoming_minor": upcoming_minor,
        "invoiced_display": shown(invoiced),
        "paid_display": shown(paid),
        "refunded_display": shown(refunded),
        "balance_display": shown(invoiced - paid + refunded),
        "upcoming_display": shown(upcoming_minor),
        "aging": aged[0]["aging"] if aged else dict.fromkeys(AGING_BUCKETS, 0),
        "upcoming": upcoming,
    }


def listed_invoice(invoice: InvoiceJson, locale: str) -> ListedInvoice:
    """An invoice with its amounts as a person reads them (Babel, the practice's locale, the
    invoice's own currency and digits)."""

    def shown(minor: int) -> str:
        return format_money(minor, invoice["currency"], locale)

    return {
        **invoice,
        "total_display": shown(invoice["total_minor"]),
        "paid_display": shown(invoice["paid_minor"]),
        "balance_display": shown(invoice["balance_minor"]),
    }


def upcoming_of(session: Session, client_id: str) -> list[UpcomingCharge]:
    """Charges on the client's draft invoices: booked, or owed but not yet invoiced. They are
    not part of the balance until their invoice is issued."""
    lines = session.scalars(
        select(InvoiceLine)
        .join(Invoice)
        .where(
            Invoice.client_id == client_id,
            Invoice.status == "draft",
            InvoiceLine.status == "active",
        )
        .order_by(InvoiceLine.service_date, InvoiceLine.created_at)
    )
    return [
        {
            "appointment_id": line.appointment_id,
            "service_date": line.service_date.isoformat(),
            "description": line.description,
            "kind": line.kind,
            "amount_minor": line.amount_minor,
            "invoice_id": line.invoice_id,
            "invoiced_after": line.invoice.issue_after.isoformat()
            if line.invoice.issue_after
            else None,
        }
        for line in lines
    ]


@dataclass
class _Account:
    """What a client owes, gathered invoice by invoice."""

    client_id: str
    client_name: str
    currency: str
    aging: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AGING_BUCKETS, 0))
    invoices: list[OpenInvoice] = field(default_factory=list)
    service_dates: set[date] = field(default_factory=set)


def balances(
    session: Session, today: date, client_id: str | None = None, search: str | None = None
) -> list[BalanceRow]:
    """Per client: what is still open on issued invoices, aged by the days since each was issued
    (in the practice's zone), with each invoice's service dates and links to read it. Amounts
    are also given as the desk reads them (Babel, the practice's locale), so no page formats
    money by itself."""
    practice = practice_json(session)
    zone = ZoneInfo(practice["time_zone"])
    locale = practice["locale"] or DEFAULT_LOCALE
    statement = (
        select(Invoice)
        .options(selectinload(Invoice.lines))
        .where(Invoice.status != "draft")
        .order_by(Invoice.issued_at)
    )
    if client_id:
        statement = statement.where(Invoice.client_id == client_id)
    if search:
        statement = statement.where(
            Invoice.client_id.in_(
                select(ClientAccount.client_id).where(
                    ClientAccount.name.icontains(search.strip(), autoescape=True)
                )
            )
        )
    accounts: dict[str, _Account] = {}
    for invoice in session.scalars(statement):
        owed = open_amount(
            cast(InvoiceState, invoice.status), invoice.total_minor, invoice.paid_minor
        )
        if owed == 0:
            continue
        if invoice.client_id not in accounts:
            name = session.get(ClientAccount, invoice.client_id)
            accounts[invoice.client_id] = _Account(
                invoice.client_id, name.name if name else invoice.client_id, invoice.currency
            )
        account = accounts[invoice.client_id]
        issued_at = invoice.issued_at or invoice.created_at
        issued_on = issued_at.astimezone(zone).date() if issued_at else today
        age = (today - issued_on).days
        bucket = aging_bucket(age)
        account.aging[bucket] += owed
        service_dates = sorted({line.service_date for line in invoice.lines})
        account.service_dates.update(service_dates)
        currency = account.currency
        account.invoices.append(
            {
                "invoice_id": invoice.id,
                "number": invoice.number,
                "status": invoice.status,
                "issued_on": issued_on.isoformat(),
                "age_days": age,
                "aging_bucket": bucket,
                "service_dates": [d.isoformat() for d in service_dates],
                "total_minor": invoice.total_minor,
                "paid_minor": invoice.paid_minor,
                "open_minor": owed,
                "total_display": format_money(invoice.total_minor, currency, locale),
                "paid_display": format_money(invoice.paid_minor, currency, locale),
                "open_display": format_money(owed, currency, locale),
                "links": _invoice_links(invoice.id),
            }
        )
    ordered = sorted(accounts.values(), key=lambda a: (a.client_name.casefold(), a.client_id))
    return [_balance_row(account, locale) for account in ordered]


def _balance_row(account: _Account, locale: str) -> BalanceRow:
    def shown(minor: int) -> str:
        return format_money(minor, account.currency, locale)

    links: BalanceLinks = {
        "balance": f"/api/v1/balances/{account.client_id}",
        "statement": f"/api/v1/balances/{account.client_id}/statement",
    }
    if account.service_dates:
        first, last = min(account.service_dates), max(account.service_dates)
        links["superbill"] = (
            f"/api/v1/superbills?client_id={account.client_id}&from={first}&to={last}"
        )
    outstanding = sum(account.aging.values())
    return {
        "client_id": account.client_id,
        "client_name": account.client_name,
        "currency": account.currency,
        "outstanding_minor": outstanding,
        "outstanding_display": shown(outstanding),
        "aging": account.aging,
        "aging_display": {bucket: shown(amount) for bucket, amount in account.aging.items()},
        "invoices": account.invoices,
        "links": links,
    }


def aging_totals(session: Session, items: list[BalanceRow]) -> AgingTotals:
    """What all the listed clients owe, by age, in the practice's currency, as read."""
    practice = practice_json(session)
    totals = {
        bucket: sum(
            item["aging"][bucket] for item in items if item["currency"] == practice["currency"]
        )
        for bucket in AGING_BUCKETS
    }
    locale = practice["locale"] or DEFAULT_LOCALE
    return {
        "currency": practice["currency"],
        "aging": totals,
        "aging_display": {
            k: format_money(v, practice["currency"], locale) for k, v in totals.items()
        },
    }


def _invoice_links(invoice_id: str) -> InvoiceLinks:
    path = f"/api/v1/invoices/{invoice_id}"
    return {"json": path, "html": f"{path}.html", "pdf": f"{path}.pdf"}


def statement_of(
    session: Session, client_id: str, start: date | None, end: date | None
) -> Statement:
    zone = ZoneInfo(practice_json(session)["time_zone"])
    opening = running = 0
    lines: list[StatementEntry] = []
    for entry in _ledger_entries(session, client_id):
        day = entry["at"].astimezone(zone).date()
        if start and day < start:
            opening += entry["amount_minor"]
            running = opening
            continue
        if end and day > end:
            continue
        running += entry["amount_minor"]
        lines.append({**entry, "at": entry["at"].isoformat(), "balance_minor": running})
    return {
        "client_id": client_id,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "opening_balance_minor": opening,
        "closing_balance_minor": running,
        "entries": lines,
    }


# -- superbills ---------------------------------------------------------------------------------


def superbill_document(
    session: Session, client_id: str, start: date, end: date
) -> Superbill | None:
    """The sessions a client had in a period, with what an insurer needs to reimburse them."""
    client = client_json(session, client_id)
    if client is None:
        return None
    lines = session.scalars(
        select(InvoiceLine)
        .join(Invoice)
        .where(
            Invoice.client_id == client_id,
            Invoice.status != "void",
            InvoiceLine.kind == "session",
            InvoiceLine.status == "active",
            InvoiceLine.service_date >= start,
            InvoiceLine.service_date <= end,
        )
        .order_by(InvoiceLine.service_date)
    ).all()
    practitioners = {
        p.practitioner_id: p
        for p in session.scalars(
            select(PractitionerAccount).where(
                PractitionerAccount.practitioner_id.in_({li.practitioner_id for li in lines})
            )
        )
    }
    invoice_ids = {line.invoice_id for line in lines}
    zone = ZoneInfo(practice_json(session)["time_zone"])
    window = (
        datetime.combine(start, time.min, zone),
        datetime.combine(end, time.max, zone),
    )
    payments = session.scalars(
        select(Payment)
        .where(
            Payment.invoice_id.in_(invoice_ids),
            Payment.recorded_at >= window[0],
            Payment.recorded_at <= window[1],
        )
        .order_by(Payment.recorded_at)
    ).all()
    currency = lines[0].invoice.currency if lines else practice_json(session)["currency"]
    used = units.numbers_for(session, [line.appointment_id for line in lines])
    services: list[SuperbillService] = []
    for line in lines:
        practitioner = practitioners.get(line.practitioner_id or "")
        authorization = used.get(line.appointment_id)
        services.append(
            {
                "authorization_number": authorization.number if authorization else None,
                "date": line.service_date.isoformat(),
                "cpt_code": line.cpt_code,
                "description": line.description,
                "diagnosis_codes": client["diagnosis_codes"],
                "practitioner": practitioner.display_name if practitioner else None,
                "practitioner_npi": practitioner.npi if practitioner else None,
                "invoice_number": line.invoice.number,
                "fee_minor": line.amount_minor,
            }
        )
    paid = sum(p.amount_minor if p.kind == "payment" else -p.amount_minor for p in payments)
    return {
        "practice": practice_json(session),
        "client": client,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currency": currency,
        "diagnosis_codes": client["diagnosis_codes"],
        "practitioners": [
            {
                "practitioner_id": p.practitioner_id,
                "name": p.display_name,
                "npi": p.npi,
                "license": p.license,
            }
            for p in practitioners.values()
        ],
        "services": services,
        "authorizations": _authorizations(session, [line.appointment_id for line in lines]),
        "payments": [
            {
                "date": p.recorded_at.astimezone(zone).date().isoformat(),
                "kind": p.kind,
                "method": p.method,
                "amount_minor": p.amount_minor,
            }
            for p in payments
        ],
        "total_charged_minor": sum(s["fee_minor"] for s in services),
        "total_paid_minor": paid,
    }


# -- PDF ----------------------------------------------------------------------------------------


class _Page(FPDF):
    """A page in DejaVu Sans, packaged with billing, so any client's name prints as written."""

    def __init__(self, practice: PracticeJson) -> None:
        super().__init__()
        self.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.zone = practice["time_zone"]
        self.locale = practice.get("locale") or DEFAULT_LOCALE

    def money(self, minor: int, currency: str) -> str:
        return format_money(minor, currency, self.locale)

    def day(self, value: str) -> str:
        return format_day(value, self.zone, self.locale)

    def heading(self, text: str) -> None:
        self.set_font("DejaVu", "B", 16)
        self.cell(0, 10, text, new_x="LMARGIN", new_y="NEXT")
        self.set_font("DejaVu", size=10)

    def line_of(self, text: str, bold: bool = False) -> None:
        self.set_font("DejaVu", "B" if bold else "", 10)
        self.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")

    def rows(self, header: list[str], rows: list[list[str]], widths: list[int]) -> None:
        self.set_font("DejaVu", "B", 9)
        for text, width in zip(header, widths, strict=True):
            self.cell(width, 7, text, border=1)
        self.ln()
        self.set_font("DejaVu", size=9)
        for row in rows:
            for text, width in zip(row, widths, strict=True):
                self.cell(width, 6, str(text or "")[:60], border=1)
            self.ln()
        self.ln(3)


def _practice_block(pdf: _Page, practice: PracticeJson) -> None:
    pdf.line_of(practice["name"] or "Practice", bold=True)
    if practice["address"]:
        pdf.line_of(practice["address"])
    ids = [f"NPI {practice['npi']}" if practice["npi"] else "", practice["tax_id"] or ""]
    if any(ids):
        pdf.line_of("   ".join(x if not x or x.startswith("NPI") else f"Tax ID {x}" for x in ids))
    pdf.ln(3)


def _authorization_lines(pdf: _Page, authorizations: list[AuthorizationRef]) -> None:
    for authorization in authorizations:
        pdf.line_of(
            f"Insurance authorization: {authorization['number']} ({authorization['payer']})"
        )


def invoice_pdf(doc: dict[str, Any]) -> bytes:
    invoice, currency = doc["invoice"], doc["invoice"]["currency"]
    pdf = _Page(doc["practice"])
    pdf.add_page()
    pdf.heading(f"Invoice {invoice['number'] or '(draft)'}")
    _practice_block(pdf, doc["practice"])
    pdf.line_of(f"Billed to: {doc['client']['name']}")
    if invoice["issued_at"]:
        pdf.line_of(f"Issued: {pdf.day(invoice['issued_at'])}")
    pdf.line_of(f"Status: {invoice['status'].replace('_', ' ')}")
    _authorization_lines(pdf, doc.get("authorizations", []))
    pdf.ln(3)
    rows = [
        [
            line["service_date"],
            line["description"] + ("" if line["status"] == "active" else f" ({line['status']})"),
            line["cpt_code"] or "",
            pdf.money(line["amount_minor"], currency),
        ]
        for line in invoice["lines"]
    ]
    pdf.rows(["Date", "Description", "CPT", "Amount"], rows, [25, 105, 20, 40])
    pdf.line_of(f"Total: {pdf.money(invoice['total_minor'], currency)}", bold=True)
    pdf.line_of(f"Paid: {pdf.money(invoice['paid_minor'], currency)}")
    pdf.line_of(f"Balance due: {pdf.money(invoice['balance_minor'], currency)}", bold=True)
    return bytes(pdf.output())


def superbill_pdf(doc: Superbill) -> bytes:
    currency, client = doc["currency"], doc["client"]
    pdf = _Page(doc["practice"])
    pdf.add_page()
    pdf.heading("Superbill")
    _practice_block(pdf, doc["practice"])
    pdf.line_of(f"Client: {client['name']}")
    if client["date_of_birth"]:
        pdf.line_of(f"Date of birth: {client['date_of_birth']}")
    if client["insurance_member_id"]:
        pdf.line_of(f"Member ID: {client['insurance_member_id']}")
    pdf.line_of(f"Period: {doc['from']} to {doc['to']}")
    pdf.line_of(f"Diagnosis (ICD-10): {', '.join(doc['diagnosis_codes']) or 'none on file'}")
    for p in doc["practitioners"]:
        pdf.line_of(f"Rendering provider: {p['name']}  NPI {p['npi'] or 'not on file'}")
    _authorization_lines(pdf, doc.get("authorizations", []))
    pdf.ln(3)
    rows = [
        [s["date"], s["cpt_code"] or "", s["description"], pdf.money(s["fee_minor"], currency)]
        for s in doc["services"]
    ]
    pdf.rows(["Date", "CPT", "Service", "Fee"], rows, [25, 20, 105, 40])
    pdf.line_of(f"Total charged: {pdf.money(doc['total_charged_minor'], currency)}", bold=True)
    pdf.line_of(f"Total paid: {pdf.money(doc['total_paid_minor'], currency)}", bold=True)
    return bytes(pdf.output())
