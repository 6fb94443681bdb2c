"""Keyset pagination for list endpoints: ``limit`` and an opaque ``cursor`` in, ``items``,
``next_cursor`` and ``has_more`` out. The cursor is the last row's sort key, so a page is one
index range scan however deep the caller has read, and rows added meanwhile are not skipped."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from shared.http import Problem
from shared.openapi import Page, T

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


class PageQuery(BaseModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = None


def encode_cursor(values: Sequence[Any]) -> str:
    text = json.dumps([v.isoformat() if hasattr(v, "isoformat") else v for v in values])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise Problem(
            400,
            "Invalid query",
            "cursor: not a cursor this list gave out; start again from the first page.",
            errors=[{"field": "cursor", "message": "not a cursor this list gave out"}],
        )
    return values


def after(
    keys: Sequence[InstrumentedAttribute[Any] | ColumnElement[Any]],
    values: Sequence[Any],
    descending: bool = False,
) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in ascending (or descending) order of ``keys`` (a
    row-value comparison spelled out, which SQLite and PostgreSQL both index)."""
    clauses = []
    for i, key in enumerate(keys):
        equal = [keys[j] == values[j] for j in range(i)]
        clauses.append(and_(*equal, key < values[i] if descending else key > values[i]))
    return or_(*clauses)


def paginate(
    session: Any,
    statement: Select[Any],
    keys: Sequence[InstrumentedAttribute[Any] | ColumnElement[Any]],
    page: PageQuery,
    to_json: Callable[[Any], T],
    parse: Sequence[Callable[[Any], Any]] | None = None,
    descending: bool = False,
    key_of: Callable[[Any], Sequence[Any]] | None = None,
) -> Page[T]:
    """One page of ``statement`` ordered by ``keys`` (the last one unique; newest first with
    ``descending``), as a JSON body. ``keys`` may be expressions (e.g. a coalesce), whose
    values for a row ``key_of`` then gives."""
    if page.cursor:
        raw = decode_cursor(page.cursor, len(keys))
        try:
            values = [p(v) for p, v in zip(parse, raw, strict=True)] if parse else raw
        except (TypeError, ValueError) as exc:
            raise Problem(400, "Invalid query", "cursor: not a cursor this list gave out.") from exc
        statement = statement.where(after(keys, values, descending))
    order = [k.desc() for k in keys] if descending else list(keys)
    rows = list(session.scalars(statement.order_by(*order).limit(page.limit + 1)))
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    last = rows[-1] if rows else None
    if more and last is not None:
        last_key = key_of(last) if key_of else [getattr(last, str(k.key)) for k in keys]
        next_cursor: str | None = encode_cursor(last_key)
    else:
        next_cursor = None
    return {"items": [to_json(r) for r in rows], "next_cursor": next_cursor, "has_more": more}
