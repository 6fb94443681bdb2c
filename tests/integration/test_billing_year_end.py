"""Invoice numbers belong to the practice's calendar year: the last minutes of December in
New York are still that year there, though UTC is already in January."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.billing import ledger
from shared.demo import demo_id
from tests.integration.conftest import System
from tests.support import PRACTICE_ZONE

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock


def issue_at(system: System, at: datetime) -> str:
    rt = system.runtimes["billing"]
    with rt.db.transaction() as session:
        invoice = ledger.new_invoice(demo_id("client-jordan"), "USD", at, None)
        session.add(invoice)
        ledger.issue(session, invoice, at, lambda event: None, ledger.BY_EVENT)
        assert invoice.number is not None
        return invoice.number


def test_invoice_numbers_roll_to_the_new_year_at_the_practice_midnight(system: System) -> None:
    midnight = datetime(2027, 1, 1, tzinfo=PRACTICE_ZONE)
    before, after = midnight - timedelta(minutes=5), midnight + timedelta(seconds=30)
    assert before.astimezone(UTC).year == 2027  # already January in UTC

    assert issue_at(system, before) == "2026-000001"
    assert issue_at(system, before + timedelta(minutes=4)) == "2026-000002"
    assert issue_at(system, after) == "2027-000001"
    assert issue_at(system, after + timedelta(hours=1)) == "2027-000002"
