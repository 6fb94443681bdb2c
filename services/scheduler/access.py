"""Who sees which clients and sessions. Admins and the front desk see every one. A practitioner
sees their own: their sessions, and the clients assigned to them or who have a session with
them, unless the practice lets practitioners see every client (``practitioners_see_all``).

What a user may not see answers as if it did not exist (404, or booking's "unknown client"),
so that its existence does not leak; booking into another practitioner's calendar is a 403.
The scheduler reads the setting as it is now; the notifier and billing read it from the token
(``Principal.client_scope``), so there it takes effect at the next sign-in.
"""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context
from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session

from services.scheduler.tables import Appointment, Client, Practice, StaffUser
from shared.auth import Principal, current_principal
from shared.http import Problem, not_found


def principal_for(session: Session, user: StaffUser) -> Principal:
    """The signed-in identity of a staff user, with what the practice lets them see."""
    practice = session.scalars(select(Practice)).first()
    sees_all = bool(practice and practice.practitioners_see_all)
    return Principal(user.id, user.email, user.role, user.name, user.practitioner_id, sees_all)


def scope(session: Session) -> str | None:
    """None when the signed-in user sees every client; else the practitioner whose own clients
    and sessions are all they see ("" for a practitioner login linked to no practitioner).

    Work done for no staff member — an event handler, the waiting-list loop, or a public page a
    client reaches with their own single-purpose token (every other view is authenticated
    before it runs) — acts for the practice: it sees everything."""
    if not has_request_context() or getattr(g, "principal", None) is None:
        return None
    user = current_principal()
    if user.role != "practitioner":
        return None
    practice = session.scalars(select(Practice)).first()
    if practice is not None and practice.practitioners_see_all:
        return None
    return user.practitioner_id or ""


def _own_client(practitioner_id: str) -> Any:
    has_session = exists().where(
        Appointment.client_id == Client.id, Appointment.practitioner_id == practitioner_id
    )
    return or_(Client.assigned_practitioner_id == practitioner_id, has_session)


def visible_clients(session: Session, statement: Select[Any]) -> Select[Any]:
    practitioner_id = scope(session)
    return statement if practitioner_id is None else statement.where(_own_client(practitioner_id))


def visible_appointments(session: Session, statement: Select[Any]) -> Select[Any]:
    practitioner_id = scope(session)
    if practitioner_id is None:
        return statement
    return statement.where(Appointment.practitioner_id == practitioner_id)


def may_see_client(session: Session, client: Client) -> bool:
    practitioner_id = scope(session)
    if practitioner_id is None:
        return True
    found = session.scalars(
        select(Client.id).where(Client.id == client.id, _own_client(practitioner_id))
    ).first()
    return found is not None


def visible_client(session: Session, client_id: str) -> Client:
    client = session.get(Client, client_id)
    if client is None or not may_see_client(session, client):
        raise not_found("client")
    return client


def visible_appointment(session: Session, appointment: Appointment | None) -> Appointment:
    practitioner_id = scope(session)
    if appointment is None or practitioner_id not in (None, appointment.practitioner_id):
        raise not_found("appointment")
    return appointment


def require_own_calendar(session: Session, practitioner_id: str) -> None:
    own = scope(session)
    if own is not None and practitioner_id != own:
        raise Problem(
            403,
            "Not allowed",
            "You can book and move sessions only in your own calendar; ask the front desk.",
        )


def require_assignment_allowed(session: Session, before: str | None, after: str | None) -> None:
    """A practitioner who sees only their own clients cannot hand a client to someone else."""
    own = scope(session)
    if own is not None and after != before and after != own:
        raise Problem(
            403, "Not allowed", "Only the front desk or an admin can assign a client elsewhere."
        )
