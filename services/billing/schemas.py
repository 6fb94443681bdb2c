"""What billing's API answers with: one type per JSON body, which the serializers are declared
to return (mypy checks each one) and the OpenAPI document publishes. Amounts are integer minor
units (``*_minor``), each ``*_display`` the same amount as a person reads it (the practice's
locale, the amount's currency)."""

from __future__ import annotations

from typing import Annotated, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from shared.audit import AuditEntry

# An aware instant as ISO 8601.
Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
# A calendar day as YYYY-MM-DD.
Day = Annotated[str, Field(json_schema_extra={"format": "date"})]
# Amounts per age of the debt: current, days_31_60, days_61_90, days_over_90.
Aging = dict[str, int]
AgingDisplay = dict[str, str]


# -- fee schedule, settings, policy ---------------------------------------------------------------


class FeeOverrideJson(TypedDict):
    """A practitioner's own fee for a service type."""

    practitioner_id: str
    amount_minor: int


class FeeJson(TypedDict):
    """A service type's fee, its package price, and practitioners' own fees."""

    service_type_id: str
    amount_minor: int
    currency: str
    package_price_minor: int | None
    package_sessions: int | None
    package_prepaid: bool
    practitioner_overrides: list[FeeOverrideJson]


class Fees(TypedDict):
    """The fee schedule, by service type."""

    items: list[FeeJson]


class PractitionerFeeJson(TypedDict):
    """A practitioner's own fee, as set."""

    service_type_id: str
    practitioner_id: str
    amount_minor: int


class SettingsJson(TypedDict):
    """The practice's billing settings."""

    practice_name: str
    address: str
    npi: str | None
    tax_id: str | None
    currency: str
    time_zone: str
    locale: str
    invoice_mode: str


class FeeRuleJson(TypedDict):
    """What a late cancellation or no-show costs: nothing, a fixed amount (minor units) or a
    percentage of the session fee; ``display`` as the desk reads it."""

    kind: str
    value: int
    display: str


class CancellationPolicyJson(TypedDict):
    """The late-cancellation and no-show fees."""

    late_cancellation: FeeRuleJson
    no_show: FeeRuleJson
    charged_when_cancelled_by: str


# -- practitioners, clients, authorizations, audit ------------------------------------------------


class PractitionerJson(TypedDict):
    """A practitioner's identifiers for claims."""

    practitioner_id: str
    display_name: str
    npi: str | None
    license: str | None


class Practitioners(TypedDict):
    """Practitioners known to billing, by name."""

    items: list[PractitionerJson]


class ProfileJson(TypedDict):
    """A client's billing profile."""

    client_id: str
    diagnosis_codes: list[str]
    date_of_birth: Day | None
    address: str | None
    insurance_member_id: str | None


class AuthorizationJson(TypedDict):
    """An insurance authorization and how much of it is used; ``nearing_end`` says why it needs
    attention (``last_units``, ``ends_soon``), empty when it does not."""

    id: str
    client_id: str
    payer: str
    number: str
    cpt_codes: list[str]
    sessions_authorized: int
    valid_from: Day
    valid_to: Day
    units_used: int
    units_remaining: int
    nearing_end: list[str]


class Authorizations(TypedDict):
    """Insurance authorizations, those ending first first."""

    items: list[AuthorizationJson]


class AuditLog(TypedDict):
    """Billing's audit trail, newest first."""

    items: list[AuditEntry]


# -- invoices and payments ----------------------------------------------------------------------


class LineJson(TypedDict):
    """A line of an invoice: a session, a fee, or a credit correcting an earlier line."""

    id: str
    appointment_id: str
    kind: str
    status: str
    description: str
    cpt_code: str | None
    service_date: Day
    amount_minor: int
    practitioner_id: str | None
    service_type_id: str | None
    course_id: str | None
    waiver_reason: str | None
    corrects_line_id: str | None


class InvoiceJson(TypedDict):
    """An invoice with its lines; ``number`` is null while it is a draft."""

    id: str
    number: str | None
    client_id: str
    course_id: str | None
    status: str
    period: str | None
    issue_after: Instant | None
    currency: str
    total_minor: int
    paid_minor: int
    balance_minor: int
    issued_at: Instant | None
    paid_at: Instant | None
    voided_at: Instant | None
    void_reason: str | None
    lines: list[LineJson]


class ListedInvoice(InvoiceJson):
    """An invoice in a list, with its amounts as read."""

    total_display: str
    paid_display: str
    balance_display: str


class PaymentJson(TypedDict):
    """A payment or refund on an invoice."""

    id: str
    invoice_id: str
    client_id: str
    kind: str
    amount_minor: int
    currency: str
    method: str
    reference: str | None
    recorded_at: Instant


class InvoiceWithPayments(InvoiceJson):
    """An invoice with the payments and refunds recorded on it."""

    payments: list[PaymentJson]


class PaymentReceipt(PaymentJson):
    """A payment or refund as recorded, and the invoice after it."""

    amount_display: str
    invoice: InvoiceJson


# -- balances and statements ----------------------------------------------------------------------


class InvoiceLinks(TypedDict):
    """Where to read an invoice."""

    json: str
    html: str
    pdf: str


class OpenInvoice(TypedDict):
    """An issued invoice with something still open on it, aged by the days since its issue."""

    invoice_id: str
    number: str | None
    status: str
    issued_on: Day
    age_days: int
    aging_bucket: str
    service_dates: list[Day]
    total_minor: int
    paid_minor: int
    open_minor: int
    total_display: str
    paid_display: str
    open_display: str
    links: InvoiceLinks


class BalanceLinks(TypedDict):
    """Where to read the client's balance, statement and (when they had sessions) superbill."""

    balance: str
    statement: str
    superbill: NotRequired[str]


class BalanceRow(TypedDict):
    """What a client still owes on issued invoices, aged."""

    client_id: str
    client_name: str
    currency: str
    outstanding_minor: int
    outstanding_display: str
    aging: Aging
    aging_display: AgingDisplay
    invoices: list[OpenInvoice]
    links: BalanceLinks


class AgingTotals(TypedDict):
    """What all the listed clients owe, by age, in the practice's currency."""

    currency: str
    aging: Aging
    aging_display: AgingDisplay


class Balances(TypedDict):
    """Open balances on the practice's day ``as_of``."""

    as_of: Day
    items: list[BalanceRow]
    totals: AgingTotals


class UpcomingCharge(TypedDict):
    """A charge on a draft invoice: not part of the balance until the invoice is issued."""

    appointment_id: str
    service_date: Day
    description: str
    kind: str
    amount_minor: int
    invoice_id: str
    invoiced_after: Instant | None


class ClientBalance(TypedDict):
    """A client's account: invoiced, paid, refunded, what is owed and how old, and what is
    still to be invoiced."""

    client_id: str
    currency: str
    invoiced_minor: int
    paid_minor: int
    refunded_minor: int
    balance_minor: int
    upcoming_minor: int
    invoiced_display: str
    paid_display: str
    refunded_display: str
    balance_display: str
    upcoming_display: str
    aging: Aging
    upcoming: list[UpcomingCharge]


class StatementEntry(TypedDict):
    """A movement on the account: an invoice (``status``) or a payment or refund (``method``),
    with the balance after it."""

    at: Instant
    kind: str
    reference: str | None
    invoice_id: str
    status: NotRequired[str]
    method: NotRequired[str]
    amount_minor: int
    currency: str
    balance_minor: int


# "from" is a keyword, so the answers that carry a period are declared by call.
Statement = TypedDict(
    "Statement",
    {
        "client_id": str,
        "from": Day | None,
        "to": Day | None,
        "opening_balance_minor": int,
        "closing_balance_minor": int,
        "entries": list[StatementEntry],
    },
)
Statement.__doc__ = "A client's account movements in a period (open-ended when from/to is null)."


# -- superbills ---------------------------------------------------------------------------------


class PracticeJson(TypedDict):
    """The practice as its documents name it."""

    name: str
    address: str
    npi: str | None
    tax_id: str | None
    currency: str
    time_zone: str
    locale: str


class ClientJson(TypedDict):
    """The client as a superbill names them."""

    client_id: str
    name: str
    email: str | None
    date_of_birth: Day | None
    address: str | None
    insurance_member_id: str | None
    diagnosis_codes: list[str]


class SuperbillPractitioner(TypedDict):
    """A rendering provider."""

    practitioner_id: str
    name: str
    npi: str | None
    license: str | None


class SuperbillService(TypedDict):
    """A session, with what an insurer needs to reimburse it."""

    authorization_number: str | None
    date: Day
    cpt_code: str | None
    description: str
    diagnosis_codes: list[str]
    practitioner: str | None
    practitioner_npi: str | None
    invoice_number: str | None
    fee_minor: int


class AuthorizationRef(TypedDict):
    """An insurance authorization whose units these sessions used."""

    number: str
    payer: str


class SuperbillPayment(TypedDict):
    """A payment or refund in the period."""

    date: Day
    kind: str
    method: str
    amount_minor: int


Superbill = TypedDict(
    "Superbill",
    {
        "practice": PracticeJson,
        "client": ClientJson,
        "from": Day,
        "to": Day,
        "currency": str,
        "diagnosis_codes": list[str],
        "practitioners": list[SuperbillPractitioner],
        "services": list[SuperbillService],
        "authorizations": list[AuthorizationRef],
        "payments": list[SuperbillPayment],
        "total_charged_minor": int,
        "total_paid_minor": int,
    },
)
Superbill.__doc__ = "The sessions a client had in a period, for their insurer."
