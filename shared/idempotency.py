"""Idempotency-Key support: a retried request gets the first request's response."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from flask import Response, request
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert, select
from sqlalchemy.orm import Session

from shared.db import UTCDateTime
from shared.http import Problem


def idempotency_table(metadata: MetaData) -> Table:
    """The table of first responses, declared into a service's own metadata."""
    return Table(
        "idempotent_request",
        metadata,
        Column("key", String(200), primary_key=True),
        Column("user_id", String(36), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("status", Integer, nullable=False),
        Column("body", Text, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
    )


def request_fingerprint() -> str:
    return hashlib.sha256(
        request.method.encode() + request.path.encode() + (request.get_data() or b"")
    ).hexdigest()


def replay_or_run(
    session: Session,
    table: Table,
    user_id: str,
    now: datetime,
    run: Callable[[], tuple[Mapping[str, Any], int]],
) -> tuple[Response, bool]:
    """Run the request, or answer with what its first run answered; (response, replayed).

    The key is stored in the same transaction as the request's effects, so a request that
    failed leaves no key behind and may be retried.
    """
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        body, status = run()
        return _json(body, status), False
    if len(key) > 200:
        raise Problem(400, "Invalid Idempotency-Key", "Use at most 200 characters.")
    fingerprint = request_fingerprint()
    stored = session.execute(
        select(table.c.request_hash, table.c.status, table.c.body).where(
            table.c.key == key, table.c.user_id == user_id
        )
    ).first()
    if stored is not None:
        if stored.request_hash != fingerprint:
            raise Problem(
                422,
                "Idempotency-Key reused",
                "This Idempotency-Key was used for a different request.",
            )
        return _json(json.loads(stored.body), stored.status, replayed=True), True
    body, status = run()
    session.execute(
        insert(table).values(
            key=key,
            user_id=user_id,
            request_hash=fingerprint,
            status=status,
            body=json.dumps(body),
            created_at=now,
        )
    )
    return _json(body, status), False


def _json(body: Mapping[str, Any], status: int, replayed: bool = False) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
