"""Which clients' money a signed-in user sees: every client's for admins and the front desk; a
practitioner whose practice does not let practitioners see every client (the token's
``client_scope``) sees only the clients who have a session with them, as billing knows them
from appointment events. Anything else answers 404, as if it did not exist."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.billing.tables import BilledAppointment
from shared.auth import current_principal
from shared.http import not_found


def own_clients(session: Session) -> set[str] | None:
    """None when the signed-in user sees every client; else the clients they may see."""
    practitioner_id = current_principal().client_scope
    if practitioner_id is None:
        return None
    return set(
        session.scalars(
            select(BilledAppointment.client_id)
            .where(BilledAppointment.practitioner_id == practitioner_id)
            .distinct()
        )
    )


def require_client(session: Session, client_id: str | None, what: str = "client") -> None:
    own = own_clients(session)
    if own is not None and client_id not in own:
        raise not_found(what)
