"""Invoice numbers: sequential without gaps per year (``2026-000123``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.billing.tables import InvoiceCounter


def format_number(year: int, number: int) -> str:
    return f"{year}-{number:06d}"


def next_invoice_number(session: Session, year: int) -> str:
    """Take the next number inside the caller's transaction.

    The counter row is locked until the transaction ends, so concurrent invoices wait for each
    other and a rolled-back invoice gives its number back: no gaps, no duplicates.
    """
    insert_ = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert_(InvoiceCounter)
        .values(year=year, last_number=0)
        .on_conflict_do_nothing(index_elements=["year"])
    )
    counter = session.scalars(
        select(InvoiceCounter)
        .where(InvoiceCounter.year == year)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    counter.last_number += 1
    session.flush()
    return format_number(year, counter.last_number)
