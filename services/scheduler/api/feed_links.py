"""The secret iCal feed URL of a practitioner or a client: shown to those allowed to see it,
and rotated by them (the old URL stops working at once)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy.orm import Session

from services.scheduler.api import schemas
from services.scheduler.api.common import api, audit, require_practitioner_access
from services.scheduler.feeds import feed_url, new_token
from services.scheduler.tables import Client, Practitioner
from shared.auth import current_principal
from shared.http import Problem, not_found
from shared.web import runtime


def _links(kind: str, token: str) -> schemas.FeedLinks:
    url = feed_url(runtime().settings.public_url, kind, token)
    return {"url": url, "webcal_url": "webcal://" + url.split("://", 1)[1]}


def _owner(session: Session, kind: str, owner_id: str) -> Practitioner | Client:
    if kind == "practitioner":
        require_practitioner_access(owner_id)
        owner: Practitioner | Client | None = session.get(
            Practitioner, owner_id, with_for_update=True
        )
    else:
        # A client has no login: the front desk or an admin acts for them.
        if current_principal().role not in ("front_desk", "admin"):
            raise Problem(403, "Not allowed", "Only the front desk or an admin can do this.")
        owner = session.get(Client, owner_id, with_for_update=True)
    if owner is None:
        raise not_found(kind)
    return owner


def _feed(kind: str, owner_id: str, rotate: bool) -> Any:
    with runtime().db.transaction() as session:
        owner = _owner(session, kind, owner_id)
        if rotate or owner.feed_token is None:
            had = owner.feed_token is not None
            owner.feed_token = new_token()
            audit(
                session,
                f"{kind}.feed_rotated" if had else f"{kind}.feed_created",
                kind,
                owner.id,
                reason="the previous feed URL no longer works" if had else None,
            )
        token = owner.feed_token
    return jsonify(_links(kind, token))


@api.get("/practitioners/<practitioner_id>/feed")
def practitioner_feed(practitioner_id: str) -> Any:
    return _feed("practitioner", practitioner_id, rotate=False)


@api.post("/practitioners/<practitioner_id>/feed/rotate")
def rotate_practitioner_feed(practitioner_id: str) -> Any:
    return _feed("practitioner", practitioner_id, rotate=True)


@api.get("/clients/<client_id>/feed")
def client_feed(client_id: str) -> Any:
    return _feed("client", client_id, rotate=False)


@api.post("/clients/<client_id>/feed/rotate")
def rotate_client_feed(client_id: str) -> Any:
    return _feed("client", client_id, rotate=True)
