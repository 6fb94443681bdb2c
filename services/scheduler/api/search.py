"""The desk's global search: clients by name, phone or email, each with their next sessions,
a page at a time, so no page has to ship the client list to search it in the browser."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import jsonify
from pydantic import Field
from sqlalchemy import select

from services.scheduler import access
from services.scheduler.api import schemas
from services.scheduler.api.common import api, appointment_json, client_json
from services.scheduler.api.people import CLIENT_ORDER, client_search
from services.scheduler.tables import Appointment, Client
from shared.http import parse_query
from shared.openapi import Page
from shared.pagination import PageQuery, paginate
from shared.web import runtime

SESSIONS_PER_CLIENT = 3


class SearchQuery(PageQuery):
    q: str = Field(min_length=1, max_length=200)
    limit: int = Field(default=20, ge=1, le=100)


@api.get("/search")
def search() -> Any:
    query = parse_query(SearchQuery)
    now = runtime().clock.now()
    with runtime().db.sessions() as session:
        clients = access.visible_clients(session, client_search(select(Client), query.q))
        page = paginate(session, clients, CLIENT_ORDER, query, client_json)
        upcoming: dict[str, list[schemas.Appointment]] = defaultdict(list)
        ids = [c["id"] for c in page["items"]]
        if ids:
            rows = session.scalars(
                access.visible_appointments(
                    session,
                    select(Appointment)
                    .where(Appointment.client_id.in_(ids), Appointment.starts_at >= now)
                    .where(Appointment.status.in_(("booked", "confirmed", "checked_in")))
                    .order_by(Appointment.starts_at),
                )
            )
            for a in rows:
                if len(upcoming[a.client_id]) < SESSIONS_PER_CLIENT:
                    upcoming[a.client_id].append(appointment_json(a))
        hits: list[schemas.SearchHit] = [
            {**client, "upcoming_sessions": upcoming[client["id"]]} for client in page["items"]
        ]
        found: Page[schemas.SearchHit] = {
            "items": hits,
            "next_cursor": page["next_cursor"],
            "has_more": page["has_more"],
        }
    return jsonify(found)
