"""The public page of an offer link: a waiting client sees the freed slot offered to them and
accepts it with one button (no JavaScript, no sign-in). The link's secret is the only key, so
an unknown or expired link is a plain 404; one whose slot went to someone else says so."""

from __future__ import annotations

from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, make_response, render_template
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.scheduler import domain, refill
from services.scheduler.api.common import RACE_STATES
from services.scheduler.tables import Client, Practice, Practitioner, WaitlistOffer
from shared.auth import public
from shared.http import Problem
from shared.web import runtime

offers = Blueprint("scheduler_offers", __name__, url_prefix="/offers", template_folder="templates")
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"


@offers.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the path is the secret
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def _find(session: Any, token: str) -> WaitlistOffer:
    offer = None
    if 20 <= len(token) <= 100:
        offer = session.scalars(
            select(WaitlistOffer).where(WaitlistOffer.token == refill.token_digest(token))
        ).first()
    if offer is None or offer.status == "expired":
        raise Problem(404, "Not found", "This offer link is not valid (or it has expired).")
    if offer.status == "open" and offer.expires_at <= runtime().clock.now():
        raise Problem(404, "Not found", "This offer link is not valid (or it has expired).")
    return offer


def _page(session: Any, offer: WaitlistOffer, state: str, status: int = 200) -> Response:
    practice = session.scalars(select(Practice)).first()
    practitioner = session.get(Practitioner, offer.practitioner_id)
    client = session.get(Client, offer.client_id)
    zone = client.time_zone if client else (practice.time_zone if practice else "UTC")
    local = offer.starts_at.astimezone(ZoneInfo(zone))
    body = render_template(
        "offers/offer.html",
        state=state,
        practice=practice.name if practice else "Rapport",
        practitioner=practitioner.display_name if practitioner else "",
        when=domain.local_when(offer.starts_at, zone),
        day=f"{local:%A, %B} {local.day}",
        expires=domain.local_when(offer.expires_at, zone),
    )
    return make_response(body, status)


def _state(offer: WaitlistOffer) -> str:
    return offer.status if offer.status in ("open", "accepted", "withdrawn") else "taken"


@offers.get("/<token>")
@public
def show_offer(token: str) -> Any:
    with runtime().db.sessions() as session:
        offer = _find(session, token)
        return _page(session, offer, _state(offer))


@offers.post("/<token>")
@public
def accept_offer(token: str) -> Any:
    rt = runtime()
    for attempt in range(3):
        try:
            with rt.db.transaction() as session:
                offer = _find(session, token)
                emit = partial(rt.emitter.emit, session)
                refill.accept(
                    session, offer.id, "link", rt.clock.now(), emit, refill.OFFER_LINK_ACTOR
                )
                response = _page(session, offer, _state(offer))
            break
        except IntegrityError as exc:
            # A desk booking committed the same time first: look again, it now reads taken.
            if getattr(exc.orig, "sqlstate", None) not in RACE_STATES or attempt == 2:
                raise
    rt.outbox_written()
    return response
