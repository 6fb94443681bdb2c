"""Authorization units inside the caller's transaction: an attended session uses a unit of the
client's authorization that covers it; a cancellation or no-show gives it back. Each change
publishes the authorization's new state, and the first time it is nearly used up, an
authorization.nearing_end."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.billing import ledger
from services.billing.authorizations import Coverage, covers, nearing_end_reasons
from services.billing.periods import practice_day
from services.billing.tables import Authorization, AuthorizationUnit
from shared.contracts.billing import AuthorizationNearingEnd, AuthorizationRecorded


def coverage_of(authorization: Authorization) -> Coverage:
    return Coverage(
        tuple(json.loads(authorization.cpt_codes)),
        authorization.valid_from,
        authorization.valid_to,
        authorization.sessions_authorized,
    )


def units_used(session: Session, authorization_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(AuthorizationUnit)
            .where(AuthorizationUnit.authorization_id == authorization_id)
        )
        or 0
    )


def use_unit(
    session: Session,
    appointment_id: str,
    client_id: str,
    cpt_code: str | None,
    service_date: date,
    now: datetime,
    emit: ledger.Emit,
) -> None:
    if session.get(AuthorizationUnit, appointment_id) is not None:
        return
    candidates = session.scalars(
        select(Authorization)
        .where(
            Authorization.client_id == client_id,
            Authorization.valid_from <= service_date,
            Authorization.valid_to >= service_date,
        )
        .order_by(Authorization.valid_to, Authorization.created_at)
        .with_for_update()
    ).all()
    for authorization in candidates:
        coverage = coverage_of(authorization)
        if not covers(coverage, service_date, cpt_code):
            continue
        if units_used(session, authorization.id) >= coverage.sessions_authorized:
            continue
        session.add(
            AuthorizationUnit(
                appointment_id=appointment_id,
                authorization_id=authorization.id,
                service_date=service_date,
                used_at=now,
            )
        )
        session.flush()
        changed(session, authorization, now, emit)
        return


def release_unit(session: Session, appointment_id: str, now: datetime, emit: ledger.Emit) -> None:
    unit = session.get(AuthorizationUnit, appointment_id)
    if unit is None:
        return
    authorization = session.scalars(
        select(Authorization).where(Authorization.id == unit.authorization_id).with_for_update()
    ).one()
    session.delete(unit)
    session.flush()
    changed(session, authorization, now, emit)


def changed(
    session: Session, authorization: Authorization, now: datetime, emit: ledger.Emit
) -> None:
    """Publish the authorization's new state, and whether it is now nearly used up."""
    authorization.revision += 1
    authorization.updated_at = now
    emit(recorded(session, authorization))
    check_nearing_end(session, authorization, now, emit)


def check_nearing_end(
    session: Session, authorization: Authorization, now: datetime, emit: ledger.Emit
) -> None:
    if authorization.nearing_end_at is not None:
        return
    used = units_used(session, authorization.id)
    today = practice_day(now, ledger.rules(session).time_zone)
    reasons = nearing_end_reasons(
        used, authorization.sessions_authorized, authorization.valid_to, today
    )
    if not reasons:
        return
    authorization.nearing_end_at = now
    emit(
        AuthorizationNearingEnd(
            authorization_id=authorization.id,
            client_id=authorization.client_id,
            payer=authorization.payer,
            number=authorization.number,
            units_remaining=max(authorization.sessions_authorized - used, 0),
            valid_to=authorization.valid_to,
            reasons=reasons,
        )
    )


def recorded(session: Session, authorization: Authorization) -> AuthorizationRecorded:
    return AuthorizationRecorded(
        authorization_id=authorization.id,
        revision=authorization.revision,
        client_id=authorization.client_id,
        payer=authorization.payer,
        number=authorization.number,
        cpt_codes=json.loads(authorization.cpt_codes),
        sessions_authorized=authorization.sessions_authorized,
        valid_from=authorization.valid_from,
        valid_to=authorization.valid_to,
        units_used=units_used(session, authorization.id),
    )


def numbers_for(session: Session, appointment_ids: list[str]) -> dict[str, Authorization]:
    """The authorization each of these appointments used a unit of."""
    rows = session.execute(
        select(AuthorizationUnit.appointment_id, Authorization)
        .join(Authorization, Authorization.id == AuthorizationUnit.authorization_id)
        .where(AuthorizationUnit.appointment_id.in_(appointment_ids))
    ).all()
    return {appointment_id: authorization for appointment_id, authorization in rows}
