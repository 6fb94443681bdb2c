"""Transactional outbox and inbox tables, declared into each service's own metadata.

The outbox row commits with the state change that emitted it; the relay publishes it later.
On PostgreSQL the same INSERT also queues ``NOTIFY rapport_outbox`` (in its RETURNING clause,
so no extra round trip): PostgreSQL delivers it only when the transaction commits, never after a
rollback, and folds one transaction's notifications into one; a relay LISTENing on the channel
wakes at once instead of waiting for its next poll.
The inbox row ``(event_id, handler)`` commits with a handler's effects, so a redelivered event
finds its row and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import (
    CTE,
    BigInteger,
    Column,
    Index,
    Insert,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from shared.db import UTCDateTime
from shared.envelope import Envelope

# The channel is per database, as a service's outbox is.
OUTBOX_CHANNEL = "rapport_outbox"

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Position = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class PendingEvent:
    position: int
    event_id: str
    type: str
    body: str


class EventTables:
    def __init__(self, metadata: MetaData) -> None:
        self.outbox = Table(
            "outbox",
            metadata,
            Column("position", Position, primary_key=True, autoincrement=True),
            Column("event_id", String(36), nullable=False, unique=True),
            Column("type", String(100), nullable=False),
            Column("body", Text, nullable=False),
            Column("created_at", UTCDateTime, nullable=False),
            Column("sent_at", UTCDateTime, nullable=True),
            Column("publish_attempts", Integer, nullable=False, server_default=text("0")),
            Column("last_error", Text, nullable=True),
            Index(
                "ix_outbox_unsent",
                "position",
                postgresql_where=text("sent_at IS NULL"),
                sqlite_where=text("sent_at IS NULL"),
            ),
        )
        self.inbox = Table(
            "inbox",
            metadata,
            Column("event_id", String(36), primary_key=True),
            Column("handler", String(200), primary_key=True),
            Column("event_type", String(100), nullable=False),
            Column("processed_at", UTCDateTime, nullable=False),
        )

        # Every event handled and emitted runs these two statements; each is built once per
        # dialect with its values as parameters (building a statement and its cache key cost
        # about as much Python time as running it).
        self._statements: dict[tuple[str, str], Executable] = {}

    def _statement(self, session: Session, kind: str) -> Executable:
        """The statement of ``kind`` (a key of ``_build``) for the session's dialect."""
        dialect = session.get_bind().dialect.name
        statement = self._statements.get((kind, dialect))
        if statement is None:
            statement = self._build(kind, dialect == "postgresql")
            self._statements[(kind, dialect)] = statement
        return statement

    def _build(self, kind: str, postgres: bool) -> Executable:
        outbox, inbox = self.outbox, self.inbox
        if kind == "append":
            appended = insert(outbox).values(
                event_id=bindparam("p_event_id"),
                type=bindparam("p_type"),
                body=bindparam("p_body"),
                created_at=bindparam("p_created_at"),
            )
            return appended.returning(func.pg_notify(OUTBOX_CHANNEL, "")) if postgres else appended
        if kind == "take":
            oldest = (
                select(outbox.c.position)
                .where(outbox.c.sent_at.is_(None))
                .order_by(outbox.c.position)
                .limit(bindparam("p_limit", type_=Integer))
            )
            if postgres:
                oldest = oldest.with_for_update(skip_locked=True)
            return (
                update(outbox)
                .where(outbox.c.position.in_(oldest))
                .values(
                    sent_at=bindparam("p_at"),
                    publish_attempts=outbox.c.publish_attempts + 1,
                    last_error=None,
                )
                .returning(outbox.c.position, outbox.c.event_id, outbox.c.type, outbox.c.body)
            )
        if kind == "give_back":
            return (
                update(outbox)
                .where(outbox.c.position.in_(bindparam("p_positions", expanding=True)))
                .values(sent_at=None, publish_attempts=outbox.c.publish_attempts - 1)
            )
        if kind == "failed":
            return (
                update(outbox)
                .where(outbox.c.position == bindparam("p_position"))
                .values(
                    publish_attempts=outbox.c.publish_attempts + 1, last_error=bindparam("p_error")
                )
            )
        insert_ = pg_insert if postgres else sqlite_insert
        recorded = (
            insert_(inbox)
            .values(
                event_id=bindparam("p_event_id"),
                handler=bindparam("p_handler"),
                event_type=bindparam("p_event_type"),
                processed_at=bindparam("p_processed_at"),
            )
            .on_conflict_do_nothing(index_elements=["event_id", "handler"])
        )
        if kind == "inbox_many":
            return recorded.returning(inbox.c.event_id, inbox.c.handler)
        return recorded.returning(inbox.c.event_id)

    # -- outbox -------------------------------------------------------------------------------

    def append(self, session: Session, envelope: Envelope) -> None:
        session.execute(self._statement(session, "append"), self.append_params(envelope))

    def appended_with(self, *changes: CTE) -> Executable:
        """PostgreSQL: the outbox INSERT of ``append`` (its NOTIFY included) carrying
        ``changes``, data-modifying CTEs (``update(...).cte()``), in the same statement: a state
        change and the event it emits in one round trip, all or nothing. Takes ``append``'s
        parameters (``append_params``) plus the ones ``changes`` bind; built once by the caller."""
        return cast(Insert, self._build("append", postgres=True)).add_cte(*changes)

    @staticmethod
    def append_params(envelope: Envelope) -> dict[str, object]:
        return {
            "p_event_id": str(envelope.id),
            "p_type": envelope.type,
            "p_body": envelope.to_json(),
            "p_created_at": envelope.occurred_at,
        }

    def take_unsent(self, session: Session, limit: int, at: datetime) -> list[PendingEvent]:
        """The oldest unsent rows in order, marked sent at ``at`` in this transaction.

        One statement: the rows are locked by it (other relays skip them on PostgreSQL) and
        count as sent only if the transaction commits, so the caller commits after the broker
        confirmed them and hands back with ``give_back`` any it could not publish.
        """
        rows = session.execute(self._statement(session, "take"), {"p_limit": limit, "p_at": at})
        return sorted((PendingEvent(*row) for row in rows), key=lambda row: row.position)

    def give_back(self, session: Session, positions: list[int]) -> None:
        """Undo ``take_unsent`` for rows that were not published: unsent, attempt not counted."""
        if positions:
            session.execute(self._statement(session, "give_back"), {"p_positions": positions})

    def mark_failed(self, session: Session, position: int, error: str) -> None:
        session.execute(
            self._statement(session, "failed"), {"p_position": position, "p_error": error[:500]}
        )

    def backlog(self, session: Session) -> tuple[int, datetime | None]:
        """How many events wait to be published, and when the oldest of them was created."""
        count, oldest = session.execute(
            select(func.count(), func.min(self.outbox.c.created_at)).where(
                self.outbox.c.sent_at.is_(None)
            )
        ).one()
        return int(count), oldest

    # -- inbox --------------------------------------------------------------------------------

    def record_processed(
        self, session: Session, envelope: Envelope, handler: str, at: datetime
    ) -> bool:
        """Record (event, handler) in this transaction; False if it was recorded before.

        ON CONFLICT DO NOTHING: on PostgreSQL a concurrent duplicate blocks on the key until
        the first transaction ends and then inserts nothing, so two consumers never both apply
        one event. SQLite serializes writers, which gives the same.
        """
        statement = self._statement(session, "inbox")
        recorded = session.execute(statement, _inbox_row(envelope, handler, at))
        return recorded.first() is not None

    def record_many(
        self, session: Session, pairs: Sequence[tuple[Envelope, str]], at: datetime
    ) -> set[tuple[str, str]]:
        """Record each (event, handler) in this transaction with one statement; the pairs that
        had not been recorded before, as (event id, handler).

        The same guarantee as ``record_processed``, for a batch: SQLAlchemy sends the rows as
        one multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING``, so a pair recorded earlier
        (or by a concurrent transaction, once it commits) is not returned.
        """
        if not pairs:
            return set()
        statement = self._statement(session, "inbox_many")
        recorded = session.execute(
            statement, [_inbox_row(envelope, handler, at) for envelope, handler in pairs]
        )
        return {(event_id, handler) for event_id, handler in recorded}


def _inbox_row(envelope: Envelope, handler: str, at: datetime) -> dict[str, object]:
    """The parameters of the inbox statements for one (event, handler)."""
    return {
        "p_event_id": str(envelope.id),
        "p_handler": handler,
        "p_event_type": envelope.type,
        "p_processed_at": at,
    }
