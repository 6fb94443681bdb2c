"""Which clients' messages a signed-in user sees: every client's for admins and the front desk;
a practitioner whose practice does not let practitioners see every client (the token's
``client_scope``) sees the reminders and messages of their own sessions, and the replies and
sandbox messages of the clients who have a session with them. Anything else answers 404."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.notifier.tables import AppointmentView, ClientContact
from shared.auth import current_principal
from shared.http import not_found


def _scope() -> str | None:
    return current_principal().client_scope


def own_appointments(practitioner_id: str) -> Select[Any]:
    return select(AppointmentView.appointment_id).where(
        AppointmentView.practitioner_id == practitioner_id
    )


def own_clients(practitioner_id: str) -> Select[Any]:
    return select(AppointmentView.client_id).where(
        AppointmentView.practitioner_id == practitioner_id
    )


def by_appointment(statement: Select[Any], column: Any) -> Select[Any]:
    """Rows of the signed-in practitioner's own sessions (all rows for everyone else)."""
    practitioner_id = _scope()
    if practitioner_id is None:
        return statement
    return statement.where(column.in_(own_appointments(practitioner_id)))


def by_client(statement: Select[Any], column: Any) -> Select[Any]:
    practitioner_id = _scope()
    if practitioner_id is None:
        return statement
    return statement.where(column.in_(own_clients(practitioner_id)))


def own_recipients(session: Session) -> set[str] | None:
    """The phone numbers and emails of the practitioner's own clients; None: no limit."""
    practitioner_id = _scope()
    if practitioner_id is None:
        return None
    contacts = session.scalars(
        select(ClientContact).where(ClientContact.client_id.in_(own_clients(practitioner_id)))
    )
    return {address for c in contacts for address in (c.phone, c.email) if address}


def require_client(session: Session, client_id: str | None, what: str) -> None:
    practitioner_id = _scope()
    if practitioner_id is None:
        return
    found = session.scalars(
        own_clients(practitioner_id).where(AppointmentView.client_id == client_id)
    ).first()
    if client_id is None or found is None:
        raise not_found(what)
