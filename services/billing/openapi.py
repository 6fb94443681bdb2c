"""Billing's OpenAPI 3.1 document, served at /api/v1/billing/openapi.json (a path the gateway
already sends to billing), built from the models its views validate with."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from services.billing import api as views
from services.billing import api_invoices as money
from services.billing import schemas as answers
from services.billing.api import api
from shared import openapi
from shared.auth import public

DOCUMENT = "/api/v1/billing/openapi.json"
PRINTABLE = ("application/json", "text/html", "application/pdf")
FEE = "/api/v1/fee-schedule/{service_type_id}"
INVOICE = "/api/v1/invoices/{invoice_id}"
PRACTITIONER_FEE = FEE + "/practitioners/{practitioner_id}"
CLIENT_PROFILE = "/api/v1/billing/clients/{client_id}/profile"
OPERATIONS: list[openapi.Operation] = [
    ("get", "/api/v1/fee-schedule", "Fees per service type", None, None, 200),
    ("put", FEE, "Set a service type's fee (admin)", views.FeeFields, None, 200),
    (
        "put",
        PRACTITIONER_FEE,
        "Set a practitioner's own fee (admin)",
        views.OverrideFields,
        None,
        200,
    ),
    (
        "delete",
        PRACTITIONER_FEE,
        "Remove a practitioner's own fee (admin)",
        None,
        None,
        204,
    ),
    ("get", "/api/v1/billing/settings", "Billing settings", None, None, 200),
    (
        "put",
        "/api/v1/billing/settings",
        "Change billing settings (admin)",
        views.SettingsFields,
        None,
        200,
    ),
    ("get", "/api/v1/billing/cancellation-policy", "Late-cancellation policy", None, None, 200),
    (
        "put",
        "/api/v1/billing/cancellation-policy",
        "Change the late-cancellation policy (admin)",
        views.PolicyFields,
        None,
        200,
    ),
    ("get", "/api/v1/billing/practitioners", "Practitioners' identifiers", None, None, 200),
    (
        "put",
        "/api/v1/billing/practitioners/{practitioner_id}/identifiers",
        "Set a practitioner's NPI and licence (admin)",
        views.PractitionerIdentifiers,
        None,
        200,
    ),
    (
        "get",
        CLIENT_PROFILE,
        "A client's billing profile",
        None,
        None,
        200,
    ),
    (
        "put",
        CLIENT_PROFILE,
        "Set a client's billing profile (admin)",
        views.ProfileFields,
        None,
        200,
    ),
    (
        "get",
        "/api/v1/billing/authorizations",
        "Insurance authorizations",
        None,
        views.AuthorizationQuery,
        200,
    ),
    (
        "post",
        "/api/v1/billing/clients/{client_id}/authorizations",
        "Add an insurance authorization",
        views.AuthorizationFields,
        None,
        201,
    ),
    (
        "put",
        "/api/v1/billing/authorizations/{authorization_id}",
        "Change an insurance authorization",
        views.AuthorizationFields,
        None,
        200,
    ),
    ("get", "/api/v1/billing/audit", "Billing's audit log (admin)", None, views.AuditQuery, 200),
    ("get", "/api/v1/invoices", "Invoices", None, money.InvoiceQuery, 200),
    ("get", INVOICE, "An invoice (JSON, or .html / .pdf)", None, None, 200),
    ("post", INVOICE + "/issue", "Issue a course's draft invoice", None, None, 200),
    ("post", INVOICE + "/payments", "Record a payment", money.PaymentFields, None, 201),
    ("post", INVOICE + "/refunds", "Record a refund (admin)", money.PaymentFields, None, 201),
    (
        "post",
        INVOICE + "/lines/{line_id}/waive",
        "Waive a fee (admin)",
        money.WaiverFields,
        None,
        200,
    ),
    ("get", "/api/v1/payments", "Payments", None, money.PaymentQuery, 200),
    ("get", "/api/v1/balances", "Open balances, aged", None, money.BalanceQuery, 200),
    ("get", "/api/v1/balances/{client_id}", "A client's balance", None, None, 200),
    (
        "get",
        "/api/v1/balances/{client_id}/statement",
        "A client's statement",
        None,
        money.StatementQuery,
        200,
    ),
    ("get", "/api/v1/superbills", "A superbill for a period", None, money.PeriodQuery, 200),
    ("get", DOCUMENT, "This document", None, None, 200),
]
RESPONSES: openapi.Responses = {
    ("get", "/api/v1/fee-schedule"): answers.Fees,
    ("put", FEE): answers.FeeJson,
    ("put", PRACTITIONER_FEE): answers.PractitionerFeeJson,
    ("get", "/api/v1/billing/settings"): answers.SettingsJson,
    ("put", "/api/v1/billing/settings"): answers.SettingsJson,
    ("get", "/api/v1/billing/cancellation-policy"): answers.CancellationPolicyJson,
    ("put", "/api/v1/billing/cancellation-policy"): answers.CancellationPolicyJson,
    ("get", "/api/v1/billing/practitioners"): answers.Practitioners,
    (
        "put",
        "/api/v1/billing/practitioners/{practitioner_id}/identifiers",
    ): answers.PractitionerJson,
    ("get", CLIENT_PROFILE): answers.ProfileJson,
    ("put", CLIENT_PROFILE): answers.ProfileJson,
    ("get", "/api/v1/billing/authorizations"): answers.Authorizations,
    (
        "post",
        "/api/v1/billing/clients/{client_id}/authorizations",
    ): answers.AuthorizationJson,
    ("put", "/api/v1/billing/authorizations/{authorization_id}"): answers.AuthorizationJson,
    ("get", "/api/v1/billing/audit"): answers.AuditLog,
    ("get", "/api/v1/invoices"): openapi.Page[answers.ListedInvoice],
    ("get", INVOICE): answers.InvoiceWithPayments,
    ("post", INVOICE + "/issue"): answers.InvoiceJson,
    ("post", INVOICE + "/payments"): answers.PaymentReceipt,
    ("post", INVOICE + "/refunds"): answers.PaymentReceipt,
    ("post", INVOICE + "/lines/{line_id}/waive"): answers.InvoiceJson,
    ("get", "/api/v1/payments"): openapi.Page[answers.PaymentJson],
    ("get", "/api/v1/balances"): answers.Balances,
    ("get", "/api/v1/balances/{client_id}"): answers.ClientBalance,
    ("get", "/api/v1/balances/{client_id}/statement"): answers.Statement,
    ("get", "/api/v1/superbills"): answers.Superbill,
    ("get", DOCUMENT): openapi.Document,
}


def build_document() -> openapi.Document:
    return openapi.build_document(
        title="Rapport billing API",
        description="Fee schedule, billing settings, cancellation policy, practitioners' and "
        "clients' billing details, insurance authorizations, invoices, payments, balances, "
        "statements and superbills. Amounts are integer minor units. Errors are "
        "application/problem+json (RFC 9457).",
        operations=OPERATIONS,
        public={DOCUMENT},
        media={INVOICE: PRINTABLE, "/api/v1/superbills": PRINTABLE},
        responses=RESPONSES,
    )


@api.get("/billing/openapi.json")
@public
def openapi_document() -> Any:
    return jsonify(build_document())
