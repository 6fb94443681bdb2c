"""Demo fee schedule for the embedded default (ids match the scheduler's demo service types)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.billing.tables import Fee
from shared.demo import demo_id

DEMO_FEES_USD_CENTS = {"ipt-intake": 22_000, "ipt-session": 16_000, "ipt-group": 7_500}


def seed(rt: Any) -> bool:
    with rt.db.transaction() as session:
        if session.scalars(select(Fee)).first() is not None:
            return False
        session.add_all(
            Fee(
                service_type_id=demo_id(key),
                amount_minor=amount,
                currency="USD",
                updated_at=rt.clock.now(),
            )
            for key, amount in DEMO_FEES_USD_CENTS.items()
        )
    return True
