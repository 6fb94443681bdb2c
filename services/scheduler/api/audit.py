"""The audit log, for admins: who changed what, when, with the state before and after."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from pydantic import BaseModel, Field

from services.scheduler.api import schemas
from services.scheduler.api.common import api
from services.scheduler.tables import AUDIT
from services.scheduler.validation import Instant
from shared.auth import require_role
from shared.http import parse_query
from shared.web import runtime


class AuditQuery(BaseModel):
    entity: str | None = Field(default=None, max_length=40)
    entity_id: str | None = Field(default=None, max_length=36)
    since: Instant | None = None
    limit: int = Field(default=200, ge=1, le=1000)


@api.get("/audit")
@require_role("admin")
def list_audit() -> Any:
    query = parse_query(AuditQuery)
    with runtime().db.sessions() as session:
        items = AUDIT.entries(
            session,
            entity=query.entity,
            entity_id=query.entity_id,
            since=query.since,
            limit=query.limit,
        )
    log: schemas.AuditLog = {"items": items}
    return jsonify(log)
