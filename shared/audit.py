"""An audit trail table, declared into a service's own metadata: who changed what, when, and
the state before and after, written in the same transaction as the change."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)
from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from shared.db import UTCDateTime

_Id = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(TypedDict):
    """Who did what to which row, when (ISO 8601), with the row before and after."""

    id: int
    at: str
    actor_id: str
    actor_role: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


class AuditTrail:
    def __init__(self, metadata: MetaData) -> None:
        self.table = Table(
            "audit_log",
            metadata,
            Column("id", _Id, primary_key=True, autoincrement=True),
            Column("at", UTCDateTime, nullable=False),
            Column("actor_id", String(36), nullable=False),
            Column("actor_role", String(20), nullable=False),
            Column("action", String(60), nullable=False),
            Column("entity", String(40), nullable=False),
            Column("entity_id", String(36), nullable=False),
            Column("before", Text, nullable=True),
            Column("after", Text, nullable=True),
            Column("reason", Text, nullable=True),
            Index("ix_audit_log_entity", "entity", "entity_id"),
            Index("ix_audit_log_at", "at"),
        )
        self._insert = insert(self.table)

    def record(
        self,
        session: Session,
        *,
        at: datetime,
        actor_id: str,
        actor_role: str,
        action: str,
        entity: str,
        entity_id: str,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        # One INSERT built once, its values as parameters: building it anew on every call took
        # longer than running it.
        session.execute(
            self._insert,
            {
                "at": at,
                "actor_id": actor_id,
                "actor_role": actor_role,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "before": None if before is None else json.dumps(before, default=str),
                "after": None if after is None else json.dumps(after, default=str),
                "reason": reason,
            },
        )

    def entries(
        self,
        session: Session,
        *,
        entity: str | None = None,
        entity_id: str | None = None,
        since: datetime | None = None,
        limit: int = 200,
    ) -> list[AuditEntry]:
        query = select(self.table).order_by(self.table.c.id.desc()).limit(limit)
        if entity:
            query = query.where(self.table.c.entity == entity)
        if entity_id:
            query = query.where(self.table.c.entity_id == entity_id)
        if since:
            query = query.where(self.table.c.at >= since)
        return [
            {
                "id": row.id,
                "at": row.at.isoformat(),
                "actor_id": row.actor_id,
                "actor_role": row.actor_role,
                "action": row.action,
                "entity": row.entity,
                "entity_id": row.entity_id,
                "before": json.loads(row.before) if row.before else None,
                "after": json.loads(row.after) if row.after else None,
                "reason": row.reason,
            }
            for row in session.execute(query)
        ]
