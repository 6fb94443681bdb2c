"""Changing invoices inside the caller's transaction: issuing, adding and voiding lines,
recording payments. Every money change is written to the audit trail and, where others care,
published (invoice.issued / voided / paid, payment.recorded)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, Table, bindparam, case, exists, func, insert, inspect, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from services.billing import metrics
from services.billing.fees import CancellationPolicy, FeeRule, FeeRuleKind
from services.billing.invoicing import InvoiceState, LineAmount, state_after_change, total_of
from services.billing.money import DEFAULT_LOCALE
from services.billing.numbering import next_invoice_number
from services.billing.periods import DEFAULT_MODE, InvoiceMode, Period
from services.billing.schemas import InvoiceJson, LineJson
from services.billing.tables import (
    AUDIT,
    BillingSettings,
    Invoice,
    InvoiceLine,
    Payment,
)
from shared import clock
from shared.contracts import Contract
from shared.contracts.billing import InvoiceIssued, InvoicePaid, InvoiceVoided, PaymentRecorded
from shared.db import after_commit

Emit = Callable[[Contract], object]
SYSTEM = ("system", "system")


@dataclass(frozen=True)
class Actor:
    """Who made a change, for the audit trail: a staff user, or billing itself on an event."""

    user_id: str
    role: str


BY_EVENT = Actor(*SYSTEM)
BY_CLOCK = Actor("clock", "system")


def settings(session: Session, now: datetime | None = None) -> BillingSettings:
    """The practice's billing settings; defaults until an admin sets them. The caller may
    change the row, so what ``rules`` kept of it for this transaction is read again."""
    session.info.pop(_RULES_KEY, None)
    return _settings_row(session, now)


# Until an admin sets them (the settings ``rules`` reads are among these).
_DEFAULTS: dict[str, Any] = {
    "practice_name": "",
    "address": "",
    "npi": None,
    "tax_id": None,
    "currency": "USD",
    "time_zone": "UTC",
    "locale": DEFAULT_LOCALE,
    "invoice_mode": DEFAULT_MODE,
    "late_cancellation_kind": "none",
    "late_cancellation_value": 0,
    "no_show_kind": "none",
    "no_show_value": 0,
}


def _settings_row(session: Session, now: datetime | None = None) -> BillingSettings:
    row = session.get(BillingSettings, 1)
    if row is None:
        row = BillingSettings(id=1, **_DEFAULTS, updated_at=now or clock.now())
    return row


@dataclass(frozen=True)
class Rules:
    """What billing an appointment needs of the settings, as they stood when first read in the
    transaction."""

    currency: str
    time_zone: str
    invoice_mode: InvoiceMode
    policy: CancellationPolicy


_RULES_KEY = "rapport_billing_rules"


def rules(session: Session) -> Rules:
    """The settings an event is billed by, read once per transaction: a batch of 50 bookings
    read the settings row twice each before. ``settings`` (through which every change to the
    row goes, a practice.updated earlier in the batch included) makes the next call read the
    row again."""
    transaction = session.get_transaction()
    cached = session.info.get(_RULES_KEY)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cast(Rules, cached[1])
    row = _rules_row(session)
    found = Rules(
        currency=row.currency,
        time_zone=row.time_zone,
        invoice_mode=cast(InvoiceMode, row.invoice_mode),
        policy=policy_of(row),
    )
    if transaction is None:  # the read began one (autobegin); what it read belongs to it
        transaction = session.get_transaction()
    session.info[_RULES_KEY] = (transaction, found)
    return found


_SETTINGS = cast(Table, BillingSettings.__table__)
_READ_RULES = select(
    _SETTINGS.c.currency,
    _SETTINGS.c.time_zone,
    _SETTINGS.c.invoice_mode,
    _SETTINGS.c.late_cancellation_kind,
    _SETTINGS.c.late_cancellation_value,
    _SETTINGS.c.no_show_kind,
    _SETTINGS.c.no_show_value,
).where(_SETTINGS.c.id == 1)


def _rules_row(session: Session) -> Any:
    """The settings as ``session.get`` would give them (the session's own row if it holds one,
    changed perhaps and not yet flushed), without building an ORM object."""
    key = identity_key(BillingSettings, 1)
    held = session.identity_map.get(key)
    if held is None:
        held = next((o for o in session.new if isinstance(o, BillingSettings)), None)
    if held is not None:
        return held
    row = session.execute(_READ_RULES).one_or_none()
    return row if row is not None else SimpleNamespace(**_DEFAULTS)


def policy_of(row: Any) -> CancellationPolicy:
    return CancellationPolicy(
        late_cancellation=FeeRule(
            cast(FeeRuleKind, row.late_cancellation_kind), row.late_cancellation_value
        ),
        no_show=FeeRule(cast(FeeRuleKind, row.no_show_kind), row.no_show_value),
    )


def local_date(instant: datetime, time_zone: str) -> date:
    return instant.astimezone(ZoneInfo(time_zone)).date()


def new_invoice(client_id: str, currency: str, now: datetime, course_id: str | None) -> Invoice:
    return Invoice(
        id=str(uuid.uuid4()),
        number=None,
        client_id=client_id,
        course_id=course_id,
        status="draft",
        currency=currency,
        total_minor=0,
        paid_minor=0,
        created_at=now,
    )


_INVOICE = cast(Table, Invoice.__table__)
_LINE = cast(Table, InvoiceLine.__table__)


def _draft_insert(insert_: Callable[[Table], Any]) -> Insert:
    return cast(
        Insert,
        insert_(_INVOICE)
        .values(
            id=bindparam("id"),
            client_id=bindparam("client_id"),
            status="draft",
            currency=bindparam("currency"),
            total_minor=0,
            paid_minor=0,
            created_at=bindparam("created_at"),
            period_key=bindparam("period_key"),
            issue_after=bindparam("issue_after"),
        )
        .on_conflict_do_nothing(index_elements=["client_id", "period_key"]),
    )


# Built once: building them took more of an event's time than running them.
_NEW_DRAFT = {"postgresql": _draft_insert(pg_insert), "sqlite": _draft_insert(sqlite_insert)}
_LOCK_DRAFT = (
    select(Invoice)
    .where(
        Invoice.client_id == bindparam("client_id"), Invoice.period_key == bindparam("period_key")
    )
    .with_for_update()
    .execution_options(populate_existing=True)
)


def period_invoice(
    session: Session, client_id: str, currency: str, period: Period, now: datetime
) -> Invoice:
    """The client's invoice for a billing period, created as a draft if it is not there yet,
    and locked until the caller's transaction ends (the issuing loop waits for it)."""
    new_draft = _NEW_DRAFT[session.get_bind().dialect.name]
    key = {"client_id": client_id, "period_key": period.key}
    for _ in range(3):
        session.execute(
            new_draft,
            {
                **key,
                "id": str(uuid.uuid4()),
                "currency": currency,
                "created_at": now,
                "issue_after": period.issue_after,
            },
        )
        invoice = session.scalars(_LOCK_DRAFT, key).one_or_none()
        if invoice is not None:
            return invoice
    # Deleted (emptied) by another transaction three times in a row: let the event be retried.
    raise RuntimeError("the period's draft invoice kept disappearing")


def credit_for(line: InvoiceLine, why: str) -> InvoiceLine:
    """A line that reverses ``line`` (on an issued invoice) once it no longer stands."""
    return InvoiceLine(
        appointment_id=line.appointment_id,
        kind="credit",
        description=f"Correction ({why}): {line.description}",
        cpt_code=None,
        service_date=line.service_date,
        amount_minor=-line.amount_minor,
        practitioner_id=line.practitioner_id,
        service_type_id=line.service_type_id,
        course_id=line.course_id,
        corrects_line_id=line.id,
    )


def remove_draft_line(
    session: Session, line: InvoiceLine, now: datetime, emit: Emit, reason: str
) -> None:
    """Take an upcoming charge off a draft; a draft left without lines goes too, so that a
    session cancelled in time leaves no invoice and uses no number."""
    invoice = line.invoice
    audit(
        session, now, BY_EVENT, "line_removed", "invoice", invoice.id, line_json(line), None, reason
    )
    invoice.lines.remove(line)
    session.delete(line)
    session.flush()
    if invoice.lines:
        refresh(session, invoice, now, emit, BY_EVENT, reason)
    else:
        session.delete(invoice)
        session.flush()


def move_line(session: Session, line: InvoiceLine, to: Invoice, now: datetime, emit: Emit) -> None:
    """An upcoming charge whose session moved to another period moves to that period's draft."""
    before = line.invoice
    to.lines  # noqa: B018 - loaded before the move, so that loading it flushes no half-move
    line.invoice = to  # the relationship moves it from one invoice's lines to the other's
    session.flush()
    audit(session, now, BY_EVENT, "line_moved", "invoice", to.id, after=line_json(line))
    if before.lines:
        refresh(session, before, now, emit, BY_EVENT, "line moved")
    else:
        session.delete(before)
    refresh(session, to, now, emit, BY_EVENT, "line moved")


_ADD_LINE = insert(_LINE)


def add_line(session: Session, invoice: Invoice, line: InvoiceLine, now: datetime) -> None:
    """Write ``line`` (not added to the session) onto ``invoice`` with one INSERT: appending it
    to ``invoice.lines`` loaded every line of the invoice first. The invoice's lines are read
    again when next needed, this one included."""
    line.id = str(uuid.uuid4())
    line.created_at = now
    line.status = "active"
    session.flush()  # a new invoice (the line's foreign key) and any change before it
    session.execute(_ADD_LINE, {**_line_row(line), "invoice_id": invoice.id})
    if "lines" not in inspect(invoice).unloaded:
        session.expire(invoice, ["lines"])
    if invoice.status != "draft":
        currency = invoice.currency
        after_commit(session, lambda: metrics.INVOICED.labels(currency).inc(line.amount_minor))
    audit(session, now, BY_EVENT, "line_added", "invoice", invoice.id, after=line_json(line))


def _line_row(line: InvoiceLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "appointment_id": line.appointment_id,
        "description": line.description,
        "cpt_code": line.cpt_code,
        "service_date": line.service_date,
        "amount_minor": line.amount_minor,
        "kind": line.kind,
        "status": line.status,
        "practitioner_id": line.practitioner_id,
        "service_type_id": line.service_type_id,
        "course_id": line.course_id,
        "created_at": line.created_at,
        "waived_at": line.waived_at,
        "waiver_reason": line.waiver_reason,
        "corrects_line_id": line.corrects_line_id,
    }


def void_line(session: Session, line: InvoiceLine, now: datetime, reason: str) -> None:
    before = line_json(line)
    line.status = "void"
    audit(
        session,
        now,
        BY_EVENT,
        "line_voided",
        "invoice",
        line.invoice_id,
        before,
        line_json(line),
        reason,
    )


def issue(session: Session, invoice: Invoice, now: datetime, emit: Emit, actor: Actor) -> None:
    """Give a draft its number (gapless per year in the practice's zone) and publish it."""
    zone = rules(session).time_zone
    invoice.number = next_invoice_number(session, now.astimezone(ZoneInfo(zone)).year)
    invoice.status = "issued"
    invoice.issued_at = now
    refresh(session, invoice, now, emit, actor, reason="issued")
    total, currency = invoice.total_minor, invoice.currency
    after_commit(session, lambda: metrics.INVOICED.labels(currency).inc(total))
    audit(session, now, actor, "invoice_issued", "invoice", invoice.id, after=invoice_json(invoice))
    emit(
        InvoiceIssued(
            invoice_id=invoice.id,
            number=invoice.number,
            client_id=invoice.client_id,
            appointment_ids=appointment_ids(invoice),
            total_minor=invoice.total_minor,
            currency=invoice.currency,
        )
    )


def refresh(
    session: Session, invoice: Invoice, now: datetime, emit: Emit, actor: Actor, reason: str
) -> None:
    """Recompute the total and the state after a change; publish a void or a payment in full."""
    session.flush()
    if invoice.status == "draft" and invoice.number is None:
        _recount_draft(session, invoice)
        return
    amounts = [LineAmount(cast(Any, line.status), line.amount_minor) for line in invoice.lines]
    before = cast(InvoiceState, invoice.status)
    invoice.total_minor = total_of(amounts)
    has_lines = any(a.status != "void" for a in amounts)
    after = state_after_change(before, invoice.total_minor, invoice.paid_minor, has_lines)
    invoice.status = after
    if after == before or invoice.number is None:
        return
    if after == "void":
        invoice.voided_at = now
        invoice.void_reason = reason
        audit(session, now, actor, "invoice_voided", "invoice", invoice.id, reason=reason)
        emit(
            InvoiceVoided(
                invoice_id=invoice.id,
                number=invoice.number,
                client_id=invoice.client_id,
                appointment_ids=appointment_ids(invoice),
                reason=reason,
            )
        )
    elif after == "paid":
        invoice.paid_at = now
        emit(
            InvoicePaid(
                invoice_id=invoice.id,
                number=invoice.number,
                client_id=invoice.client_id,
                appointment_ids=appointment_ids(invoice),
                total_minor=invoice.total_minor,
                currency=invoice.currency,
                paid_at=now,
            )
        )


# A draft's total and state (a draft left without lines is void) from its lines, where they
# are: loading every line of a client's period to add one up was most of a booking's work.
_RECOUNT_DRAFT = (
    update(_INVOICE)
    .where(_INVOICE.c.id == bindparam("invoice_id"))
    .values(
        total_minor=select(func.coalesce(func.sum(_LINE.c.amount_minor), 0))
        .where(_LINE.c.invoice_id == _INVOICE.c.id, _LINE.c.status == "active")
        .scalar_subquery(),
        status=case(
            (
                exists().where(_LINE.c.invoice_id == _INVOICE.c.id, _LINE.c.status != "void"),
                _INVOICE.c.status,
            ),
            else_="void",
        ),
    )
    .returning(_INVOICE.c.total_minor, _INVOICE.c.status)
)


def _recount_draft(session: Session, invoice: Invoice) -> None:
    """``refresh`` for a draft, which has no number and is never published: the rules of
    ``total_of`` and ``state_after_change`` in one UPDATE, the invoice loaded or not."""
    total, status = session.execute(_RECOUNT_DRAFT, {"invoice_id": invoice.id}).one()
    set_committed_value(invoice, "total_minor", total)
    set_committed_value(invoice, "status", status)


def record_payment(
    session: Session,
    invoice: Invoice,
    *,
    kind: str,
    amount_minor: int,
    method: str,
    reference: str | None,
    now: datetime,
    emit: Emit,
    actor: Actor,
) -> Payment:
    payment = Payment(
        id=str(uuid.uuid4()),
        invoice_id=invoice.id,
        client_id=invoice.client_id,
        kind=kind,
        amount_minor=amount_minor,
        currency=invoice.currency,
        method=method,
        reference=reference,
        recorded_at=now,
        recorded_by=actor.user_id,
    )
    session.add(payment)
    before = invoice_json(invoice)
    invoice.paid_minor += amount_minor if kind == "payment" else -amount_minor
    refresh(session, invoice, now, emit, actor, reason=kind)
    audit(
        session,
        now,
        actor,
        f"{kind}_recorded",
        "invoice",
        invoice.id,
        before,
        invoice_json(invoice),
        reason=reference,
    )
    counter = metrics.COLLECTED if kind == "payment" else metrics.REFUNDED
    currency = invoice.currency
    after_commit(session, lambda: counter.labels(currency).inc(amount_minor))
    emit(
        PaymentRecorded(
            payment_id=payment.id,
            invoice_id=invoice.id,
            client_id=invoice.client_id,
            kind=cast(Any, kind),
            amount_minor=amount_minor,
            currency=invoice.currency,
            method=method,
            recorded_at=now,
        )
    )
    return payment


def waive(
    session: Session, line: InvoiceLine, reason: str, now: datetime, emit: Emit, actor: Actor
) -> None:
    before = line_json(line)
    line.status = "waived"
    line.waived_at = now
    line.waiver_reason = reason
    invoice = line.invoice
    refresh(session, invoice, now, emit, actor, reason="fee waived")
    audit(session, now, actor, "fee_waived", "invoice", invoice.id, before, line_json(line), reason)
    kind, currency, amount = line.kind, invoice.currency, line.amount_minor
    after_commit(session, lambda: metrics.FEES_WAIVED.labels(kind).inc())
    after_commit(session, lambda: metrics.FEES_WAIVED_MINOR.labels(currency).inc(amount))


def audit(
    session: Session,
    now: datetime,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    AUDIT.record(
        session,
        at=now,
        actor_id=actor.user_id,
        actor_role=actor.role,
        action=action,
        entity=entity,
        entity_id=entity_id,
        before=before,
        after=after,
        reason=reason,
    )


def appointment_ids(invoice: Invoice) -> list[str]:
    return sorted({line.appointment_id for line in invoice.lines})


def payments_of(session: Session, invoice_id: str) -> list[Payment]:
    return list(
        session.scalars(
            select(Payment).where(Payment.invoice_id == invoice_id).order_by(Payment.recorded_at)
        )
    )


def line_json(line: InvoiceLine) -> LineJson:
    return {
        "id": line.id,
        "appointment_id": line.appointment_id,
        "kind": line.kind,
        "status": line.status,
        "description": line.description,
        "cpt_code": line.cpt_code,
        "service_date": line.service_date.isoformat(),
        "amount_minor": line.amount_minor,
        "practitioner_id": line.practitioner_id,
        "service_type_id": line.service_type_id,
        "course_id": line.course_id,
        "waiver_reason": line.waiver_reason,
        "corrects_line_id": line.corrects_line_id,
    }


def invoice_json(invoice: Invoice) -> InvoiceJson:
    return {
        "id": invoice.id,
        "number": invoice.number,
        "client_id": invoice.client_id,
        "course_id": invoice.course_id,
        "status": invoice.status,
        "period": invoice.period_key,
        "issue_after": invoice.issue_after.isoformat() if invoice.issue_after else None,
        "currency": invoice.currency,
        "total_minor": invoice.total_minor,
        "paid_minor": invoice.paid_minor,
        "balance_minor": invoice.total_minor - invoice.paid_minor
        if invoice.status != "void"
        else -invoice.paid_minor,
        "issued_at": invoice.issued_at.isoformat() if invoice.issued_at else None,
        "paid_at": invoice.paid_at.isoformat() if invoice.paid_at else None,
        "voided_at": invoice.voided_at.isoformat() if invoice.voided_at else None,
        "void_reason": invoice.void_reason,
        "lines": [line_json(line) for line in invoice.lines],
    }
