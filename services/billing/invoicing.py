"""Invoice rules on plain data: totals, the state an invoice is in after a change, and what a
payment or refund may be. Nothing here touches a database."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

Show = Callable[[int], str]
InvoiceState = Literal["draft", "issued", "partly_paid", "paid", "void"]
LineStatus = Literal["active", "waived", "void"]
INVOICE_STATES: tuple[InvoiceState, ...] = ("draft", "issued", "partly_paid", "paid", "void")
OPEN_STATES: tuple[InvoiceState, ...] = ("issued", "partly_paid")

# ICD-10-CM: a letter (not U), a digit, a digit or A/B, then optionally a dot and 1-4 characters.
ICD10 = re.compile(r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-TV-Z]{1,4})?$")


@dataclass(frozen=True)
class LineAmount:
    status: LineStatus
    amount_minor: int


def total_of(lines: Iterable[LineAmount]) -> int:
    """What the client owes for these lines: waived and voided lines count for nothing."""
    return sum(line.amount_minor for line in lines if line.status == "active")


def state_after_change(
    current: InvoiceState, total_minor: int, paid_minor: int, has_active_lines: bool
) -> InvoiceState:
    """The state an invoice is in once its lines or payments changed.

    A draft stays a draft until it is issued; an invoice whose every line was voided is void (it
    keeps its number, and anything paid on it is the client's credit); otherwise what has been
    paid decides (a fully waived invoice is settled, so paid). An invoice of corrections that
    adds up to less than nothing stays issued: it is a credit the client holds.
    """
    if current == "void" or not has_active_lines:
        return "void"
    if current == "draft":
        return "draft"
    if total_minor < 0:
        return "issued"
    if paid_minor >= total_minor:
        return "paid"
    if paid_minor > 0:
        return "partly_paid"
    return "issued"


def payment_problem(
    state: InvoiceState, total_minor: int, paid_minor: int, amount: int, show: Show = str
) -> str:
    """Why a payment of ``amount`` cannot be recorded on this invoice, or '' when it can.
    ``show`` writes an amount as the desk reads it (the practice's currency and locale)."""
    if state in ("draft", "void"):
        return f"This invoice is {state}; only an issued invoice can be paid."
    outstanding = total_minor - paid_minor
    if outstanding <= 0:
        return "This invoice is already paid in full."
    if amount > outstanding:
        return f"The payment is more than the {show(outstanding)} still owed on this invoice."
    return ""


def refund_problem(paid_minor: int, amount: int, show: Show = str) -> str:
    if amount > paid_minor:
        return f"The refund is more than the {show(paid_minor)} paid on this invoice."
    return ""


AGING_BUCKETS = ("current", "days_31_60", "days_61_90", "days_over_90")


def aging_bucket(days_since_issue: int) -> str:
    """Where an open amount stands by the days since its invoice was issued: current up to 30,
    then 31-60, 61-90 and over 90."""
    if days_since_issue <= 30:
        return "current"
    if days_since_issue <= 60:
        return "days_31_60"
    if days_since_issue <= 90:
        return "days_61_90"
    return "days_over_90"


def open_amount(state: InvoiceState, total_minor: int, paid_minor: int) -> int:
    """What the client still owes on an invoice (negative: a credit they hold on it)."""
    if state == "draft":
        return 0
    if state == "void":
        return -paid_minor
    return total_minor - paid_minor


def valid_icd10(code: str) -> bool:
    return bool(ICD10.match(code))
