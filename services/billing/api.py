"""Billing's HTTP API for what the practice sets up: the fee schedule and practitioners' own
fees, billing settings and cancellation policy, practitioners' and clients' billing details,
and the audit trail of every money change."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import format_percent
from flask import Blueprint, jsonify
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import select

from services.billing import access, ledger, units
from services.billing.authorizations import nearing_end_reasons
from services.billing.invoicing import valid_icd10
from services.billing.money import DEFAULT_LOCALE, format_money, known_locale
from services.billing.periods import DEFAULT_MODE, InvoiceMode, practice_day
from services.billing.schemas import (
    AuditLog,
    AuthorizationJson,
    Authorizations,
    CancellationPolicyJson,
    FeeJson,
    FeeRuleJson,
    Fees,
    PractitionerFeeJson,
    PractitionerJson,
    Practitioners,
    ProfileJson,
    SettingsJson,
)
from services.billing.tables import (
    AUDIT,
    Authorization,
    ClientAccount,
    ClientBillingProfile,
    Fee,
    PractitionerAccount,
    PractitionerFee,
)
from shared.auth import current_principal, require_role
from shared.http import Problem, not_found, parse_body, parse_query
from shared.web import runtime

api = Blueprint("billing_api", __name__, url_prefix="/api/v1")
MAX_MINOR = 10_000_000
CPT = re.compile(r"^[0-9]{4}[0-9A-Z]$")


class FeeFields(BaseModel):
    amount_minor: int = Field(ge=0, le=MAX_MINOR, description="Fee in minor units (cents)")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    package_price_minor: int | None = Field(default=None, ge=0, le=MAX_MINOR * 20)
    package_sessions: int | None = Field(default=None, ge=1, le=52)
    package_prepaid: bool = False

    @model_validator(mode="after")
    def _package_whole(self) -> FeeFields:
        if (self.package_price_minor is None) != (self.package_sessions is None):
            raise ValueError("give both package_price_minor and package_sessions, or neither")
        if self.package_prepaid and self.package_price_minor is None:
            raise ValueError("a prepaid package needs package_price_minor and package_sessions")
        return self


class OverrideFields(BaseModel):
    amount_minor: int = Field(ge=0, le=MAX_MINOR)


FeeRuleKindField = Literal["none", "fixed", "percent"]


class FeeRuleFields(BaseModel):
    kind: FeeRuleKindField
    value: int = Field(default=0, ge=0, le=MAX_MINOR)

    @model_validator(mode="after")
    def _percent_range(self) -> FeeRuleFields:
        if self.kind == "percent" and self.value > 100:
            raise ValueError("a percentage is between 0 and 100")
        return self


class PolicyFields(BaseModel):
    late_cancellation: FeeRuleFields
    no_show: FeeRuleFields


class SettingsFields(BaseModel):
    practice_name: str = Field(min_length=1, max_length=200)
    address: str = Field(default="", max_length=500)
    npi: str | None = Field(default=None, pattern=r"^\d{10}$")
    tax_id: str | None = Field(default=None, pattern=r"^\d{2}-?\d{7}$")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    time_zone: str
    locale: str = Field(default=DEFAULT_LOCALE, max_length=20)
    invoice_mode: InvoiceMode = DEFAULT_MODE

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        return known_locale(value)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("use an IANA time zone such as America/New_York") from exc
        return value


class PractitionerIdentifiers(BaseModel):
    npi: str | None = Field(default=None, pattern=r"^\d{10}$")
    license: str | None = Field(default=None, max_length=60)


class ProfileFields(BaseModel):
    diagnosis_codes: list[str] = Field(default_factory=list, max_length=12)
    date_of_birth: date | None = None
    address: str | None = Field(default=None, max_length=500)
    insurance_member_id: str | None = Field(default=None, max_length=60)

    @field_validator("diagnosis_codes")
    @classmethod
    def _icd10(cls, codes: list[str]) -> list[str]:
        cleaned = [code.strip().upper() for code in codes]
        bad = [raw for raw, code in zip(codes, cleaned, strict=True) if not valid_icd10(code)]
        if bad:
            raise ValueError(
                f"not ICD-10 codes: {', '.join(bad)} (expected the form F32.1 or F41.9)"
            )
        return cleaned


class AuditQuery(BaseModel):
    entity: str | None = None
    entity_id: str | None = None
    since: datetime | None = None
    limit: int = Field(default=200, ge=1, le=1000)


def actor() -> ledger.Actor:
    principal = current_principal()
    return ledger.Actor(principal.user_id, principal.role)


# -- fee schedule ------------------------------------------------------------------------------


@api.get("/fee-schedule")
def fee_schedule() -> Any:
    with runtime().db.sessions() as session:
        fees = session.scalars(select(Fee).order_by(Fee.service_type_id)).all()
        overrides = session.scalars(select(PractitionerFee)).all()
        answer: Fees = {"items": [fee_json(f, overrides) for f in fees]}
        return jsonify(answer)


@api.put("/fee-schedule/<service_type_id>")
@require_role("admin")
def set_fee(service_type_id: str) -> Any:
    body = parse_body(FeeFields)
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        practice_currency = ledger.settings(session, now).currency
        if body.currency != practice_currency:
            raise Problem(
                422,
                "Wrong currency",
                f"The practice bills in {practice_currency}; give the fee in {practice_currency}.",
            )
        fee = session.get(Fee, service_type_id)
        before = fee_json(fee, []) if fee else None
        if fee is None:
            fee = Fee(service_type_id=service_type_id)
            session.add(fee)
        fee.amount_minor = body.amount_minor
        fee.currency = body.currency
        fee.package_price_minor = body.package_price_minor
        fee.package_sessions = body.package_sessions
        fee.package_prepaid = body.package_prepaid
        fee.updated_at = now
        overrides = session.scalars(
            select(PractitionerFee).where(PractitionerFee.service_type_id == service_type_id)
        ).all()
        after = fee_json(fee, overrides)
        ledger.audit(session, now, actor(), "fee_set", "fee", service_type_id, before, after)
    return jsonify(after)


@api.put("/fee-schedule/<service_type_id>/practitioners/<practitioner_id>")
@require_role("admin")
def set_practitioner_fee(service_type_id: str, practitioner_id: str) -> Any:
    body = parse_body(OverrideFields)
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        if session.get(Fee, service_type_id) is None:
            raise Problem(
                409,
                "No standard fee",
                "Set the practice's fee for this service type before a practitioner's own fee.",
            )
        override = session.get(PractitionerFee, (service_type_id, practitioner_id))
        before = {"amount_minor": override.amount_minor} if override else None
        if override is None:
            override = PractitionerFee(
                service_type_id=service_type_id, practitioner_id=practitioner_id
            )
            session.add(override)
        override.amount_minor = body.amount_minor
        override.updated_at = now
        after: PractitionerFeeJson = {
            "service_type_id": service_type_id,
            "practitioner_id": practitioner_id,
            "amount_minor": body.amount_minor,
        }
        ledger.audit(
            session,
            now,
            actor(),
            "practitioner_fee_set",
            "fee",
            service_type_id,
            before,
            {"practitioner_id": practitioner_id, "amount_minor": body.amount_minor},
        )
    return jsonify(after)


@api.delete("/fee-schedule/<service_type_id>/practitioners/<practitioner_id>")
@require_role("admin")
def remove_practitioner_fee(service_type_id: str, practitioner_id: str) -> Any:
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        override = session.get(PractitionerFee, (service_type_id, practitioner_id))
        if override is None:
            raise not_found("practitioner fee for this service type")
        before = {"practitioner_id": practitioner_id, "amount_minor": override.amount_minor}
        session.delete(override)
        ledger.audit(
            session, now, actor(), "practitioner_fee_removed", "fee", service_type_id, before
        )
    return "", 204


def fee_json(fee: Fee, overrides: Any) -> FeeJson:
    return {
        "service_type_id": fee.service_type_id,
        "amount_minor": fee.amount_minor,
        "currency": fee.currency,
        "package_price_minor": fee.package_price_minor,
        "package_sessions": fee.package_sessions,
        "package_prepaid": fee.package_prepaid,
        "practitioner_overrides": [
            {"practitioner_id": o.practitioner_id, "amount_minor": o.amount_minor}
            for o in overrides
            if o.service_type_id == fee.service_type_id
        ],
    }


# -- settings and cancellation policy -----------------------------------------------------------


@api.get("/billing/settings")
def get_settings() -> Any:
    with runtime().db.sessions() as session:
        return jsonify(settings_json(ledger.settings(session)))


@api.put("/billing/settings")
@require_role("admin")
def put_settings() -> Any:
    body = parse_body(SettingsFields)
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        row = ledger.settings(session, now)
        before = settings_json(row)
        priced = session.scalars(select(Fee.currency).where(Fee.currency != body.currency)).first()
        if priced is not None:
            raise Problem(
                409,
                "Fees in another currency",
                f"The fee schedule is in {priced}; set every fee in {body.currency} first.",
            )
        for field, value in body.model_dump().items():
            setattr(row, field, value)
        row.updated_at = now
        session.merge(row)
        after = settings_json(row)
        ledger.audit(session, now, actor(), "settings_set", "settings", "1", before, after)
    return jsonify(after)


@api.get("/billing/cancellation-policy")
def get_policy() -> Any:
    with runtime().db.sessions() as session:
        return jsonify(policy_json(ledger.settings(session)))


@api.put("/billing/cancellation-policy")
@require_role("admin")
def put_policy() -> Any:
    body = parse_body(PolicyFields)
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        row = ledger.settings(session, now)
        before = policy_json(row)
        row.late_cancellation_kind = body.late_cancellation.kind
        row.late_cancellation_value = body.late_cancellation.value
        row.no_show_kind = body.no_show.kind
        row.no_show_value = body.no_show.value
        row.updated_at = now
        session.merge(row)
        after = policy_json(row)
        ledger.audit(session, now, actor(), "policy_set", "settings", "1", before, after)
    return jsonify(after)


def settings_json(row: Any) -> SettingsJson:
    return {
        "practice_name": row.practice_name,
        "address": row.address,
        "npi": row.npi,
        "tax_id": row.tax_id,
        "currency": row.currency,
        "time_zone": row.time_zone,
        "locale": row.locale,
        "invoice_mode": row.invoice_mode,
    }


def policy_json(row: Any) -> CancellationPolicyJson:
    def rule(kind: str, value: int) -> FeeRuleJson:
        # ``display`` is the fee as the desk reads it, in the practice's currency and locale.
        return {"kind": kind, "value": value, "display": rule_display(kind, value, row)}

    return {
        "late_cancellation": rule(row.late_cancellation_kind, row.late_cancellation_value),
        "no_show": rule(row.no_show_kind, row.no_show_value),
        "charged_when_cancelled_by": "client",
    }


def rule_display(kind: str, value: int, row: Any) -> str:
    if kind == "fixed":
        return format_money(value, row.currency, row.locale)
    if kind == "percent":
        return f"{format_percent(value / 100, locale=row.locale)} of the session fee"
    return "no fee"


# -- practitioners' and clients' billing details ------------------------------------------------


@api.get("/billing/practitioners")
def list_practitioners() -> Any:
    with runtime().db.sessions() as session:
        rows = session.scalars(
            select(PractitionerAccount).order_by(PractitionerAccount.display_name)
        )
        answer: Practitioners = {"items": [practitioner_json(p) for p in rows]}
        return jsonify(answer)


@api.put("/billing/practitioners/<practitioner_id>/identifiers")
@require_role("admin")
def put_practitioner_identifiers(practitioner_id: str) -> Any:
    body = parse_body(PractitionerIdentifiers)
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        row = session.get(PractitionerAccount, practitioner_id)
        if row is None:
            raise not_found("practitioner known to billing")
        before = practitioner_json(row)
        row.npi, row.license = body.npi, body.license
        ledger.audit(
            session,
            now,
            actor(),
            "practitioner_identifiers_set",
            "practitioner",
            practitioner_id,
            before,
            practitioner_json(row),
        )
        return jsonify(practitioner_json(row))


def practitioner_json(row: PractitionerAccount) -> PractitionerJson:
    return {
        "practitioner_id": row.practitioner_id,
        "display_name": row.display_name,
        "npi": row.npi,
        "license": row.license,
    }


@api.get("/billing/clients/<client_id>/profile")
def get_profile(client_id: str) -> Any:
    with runtime().db.sessions() as session:
        access.require_client(session, client_id, "billing profile for this client")
        row = session.get(ClientBillingProfile, client_id)
        if row is None:
            raise not_found("billing profile for this client")
        return jsonify(profile_json(row))


@api.put("/billing/clients/<client_id>/profile")
@require_role("admin")
def put_profile(client_id: str) -> Any:
    body = parse_body(ProfileFields)
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        row = session.get(ClientBillingProfile, client_id)
        before = profile_json(row) if row else None
        if row is None:
            row = ClientBillingProfile(client_id=client_id)
            session.add(row)
        row.diagnosis_codes = json.dumps(body.diagnosis_codes)
        row.date_of_birth = body.date_of_birth
        row.address = body.address
        row.insurance_member_id = body.insurance_member_id
        row.updated_at = now
        after = profile_json(row)
        ledger.audit(session, now, actor(), "profile_set", "client", client_id, before, after)
    return jsonify(after)


def profile_json(row: ClientBillingProfile) -> ProfileJson:
    return {
        "client_id": row.client_id,
        "diagnosis_codes": json.loads(row.diagnosis_codes),
        "date_of_birth": row.date_of_birth.isoformat() if row.date_of_birth else None,
        "address": row.address,
        "insurance_member_id": row.insurance_member_id,
    }


# -- insurance authorizations ------------------------------------------------------------------


class AuthorizationFields(BaseModel):
    payer: str = Field(min_length=1, max_length=200)
    number: str = Field(min_length=1, max_length=60)
    cpt_codes: list[str] = Field(min_length=1, max_length=20)
    sessions_authorized: int = Field(ge=1, le=500)
    valid_from: date
    valid_to: date

    @field_validator("cpt_codes")
    @classmethod
    def _cpt(cls, codes: list[str]) -> list[str]:
        cleaned = [code.strip().upper() for code in codes]
        bad = [raw for raw, code in zip(codes, cleaned, strict=True) if not CPT.match(code)]
        if bad:
            raise ValueError(f"not CPT codes: {', '.join(bad)} (expected five characters: 90834)")
        return list(dict.fromkeys(cleaned))

    @model_validator(mode="after")
    def _ordered(self) -> AuthorizationFields:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to must not be before valid_from")
        return self


class AuthorizationQuery(BaseModel):
    client_id: str | None = Field(default=None, max_length=36)
    nearing_end: bool | None = None


@api.get("/billing/authorizations")
def list_authorizations() -> Any:
    """The desk's list; ``nearing_end=true`` keeps those down to their last two units or
    fourteen days."""
    query = parse_query(AuthorizationQuery)
    rt = runtime()
    with rt.db.sessions() as session:
        statement = select(Authorization).order_by(Authorization.valid_to, Authorization.id)
        if query.client_id:
            statement = statement.where(Authorization.client_id == query.client_id)
        own = access.own_clients(session)
        if own is not None:
            statement = statement.where(Authorization.client_id.in_(own))
        today = practice_day(rt.clock.now(), ledger.settings(session).time_zone)
        items = [authorization_json(session, a, today) for a in session.scalars(statement)]
    if query.nearing_end is not None:
        items = [i for i in items if bool(i["nearing_end"]) == query.nearing_end]
    answer: Authorizations = {"items": items}
    return jsonify(answer)


@api.post("/billing/clients/<client_id>/authorizations")
def add_authorization(client_id: str) -> Any:
    body = parse_body(AuthorizationFields)
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        access.require_client(session, client_id, "client known to billing")
        if session.get(ClientAccount, client_id) is None:
            raise not_found("client known to billing")
        row = Authorization(
            id=str(uuid.uuid4()),
            revision=0,
            client_id=client_id,
            created_at=now,
            updated_at=now,
            nearing_end_at=None,
        )
        _fill(row, body)
        session.add(row)
        session.flush()
        units.changed(session, row, now, lambda e: rt.emitter.emit(session, e))
        today = practice_day(now, ledger.settings(session).time_zone)
        after = authorization_json(session, row, today)
        ledger.audit(
            session, now, actor(), "authorization_added", "authorization", row.id, None, after
        )
    rt.outbox_written()
    return jsonify(after), 201, {"Location": f"/api/v1/billing/authorizations/{row.id}"}


@api.put("/billing/authorizations/<authorization_id>")
def change_authorization(authorization_id: str) -> Any:
    body = parse_body(AuthorizationFields)
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        row = session.scalars(
            select(Authorization).where(Authorization.id == authorization_id).with_for_update()
        ).one_or_none()
        if row is None:
            raise not_found("authorization")
        access.require_client(session, row.client_id, "authorization")
        today = practice_day(now, ledger.settings(session).time_zone)
        before = authorization_json(session, row, today)
        _fill(row, body)
        if not nearing_end_reasons(
            units.units_used(session, row.id), row.sessions_authorized, row.valid_to, today
        ):
            row.nearing_end_at = None  # more units or days: say so again when they run low
        units.changed(session, row, now, lambda e: rt.emitter.emit(session, e))
        after = authorization_json(session, row, today)
        ledger.audit(
            session, now, actor(), "authorization_changed", "authorization", row.id, before, after
        )
    rt.outbox_written()
    return jsonify(after)


def _fill(row: Authorization, body: AuthorizationFields) -> None:
    row.payer, row.number = body.payer, body.number
    row.cpt_codes = json.dumps(body.cpt_codes)
    row.sessions_authorized = body.sessions_authorized
    row.valid_from, row.valid_to = body.valid_from, body.valid_to


def authorization_json(session: Any, row: Authorization, today: date) -> AuthorizationJson:
    used = units.units_used(session, row.id)
    return {
        "id": row.id,
        "client_id": row.client_id,
        "payer": row.payer,
        "number": row.number,
        "cpt_codes": json.loads(row.cpt_codes),
        "sessions_authorized": row.sessions_authorized,
        "valid_from": row.valid_from.isoformat(),
        "valid_to": row.valid_to.isoformat(),
        "units_used": used,
        "units_remaining": max(row.sessions_authorized - used, 0),
        "nearing_end": nearing_end_reasons(used, row.sessions_authorized, row.valid_to, today),
    }


# -- audit --------------------------------------------------------------------------------------


@api.get("/billing/audit")
@require_role("admin")
def audit_log() -> Any:
    query = parse_query(AuditQuery)
    with runtime().db.sessions() as session:
        answer: AuditLog = {
            "items": AUDIT.entries(
                session,
                entity=query.entity,
                entity_id=query.entity_id,
                since=query.since,
                limit=query.limit,
            )
        }
        return jsonify(answer)
