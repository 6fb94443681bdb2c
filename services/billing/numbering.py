"""Invoice numbers: sequential without gaps per year (``2026-000123``)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.billing.tables import InvoiceCounter


def format_number(year: int, number: int) -> str:
    return f"{year}-{number:06d}"


def next_invoice_number(session: Session, year: int) -> str:
    """Take the next number inside the caller's transaction, in one statement.

    The upsert creates the year's counter at 1 or adds one to it and locks the row until the
    transaction ends, so concurrent invoices wait for each other and a rolled-back invoice
    gives its number back: no gaps, no duplicates. (One round trip where an insert-if-missing,
    a locking select and an update took three.)
    """
    insert_ = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert_(InvoiceCounter).values(year=year, last_number=1)
    number = session.execute(
        statement.on_conflict_do_update(
            index_elements=["year"],
            set_={"last_number": InvoiceCounter.last_number + 1},
        ).returning(InvoiceCounter.last_number)
    ).scalar_one()
    return format_number(year, number)
