"""Demo fee schedule and billing settings for the embedded default (ids match the scheduler's
demo service types)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.billing import ledger
from services.billing.tables import BillingSettings, Fee
from shared.demo import demo_id

DEMO_FEES_USD_CENTS = {"ipt-intake": 22_000, "ipt-session": 16_000, "ipt-group": 7_500}


def seed(rt: Any) -> bool:
    with rt.db.transaction() as session:
        if session.get(BillingSettings, 1) is None:
            settings = ledger.settings(session, rt.clock.now())
            settings.practice_name = "Harbour Street Therapy"
            settings.address = "12 Harbour Street, Boston, MA 02110"  # until practice.updated
            settings.npi = "1234567893"
            settings.tax_id = "12-3456789"
            settings.time_zone = "America/New_York"
            settings.late_cancellation_kind, settings.late_cancellation_value = "percent", 50
            settings.no_show_kind, settings.no_show_value = "fixed", 8_000
            session.add(settings)
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
