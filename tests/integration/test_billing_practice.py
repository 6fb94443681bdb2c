"""Billing hears the practice from the scheduler (practice.updated) on the real broker: its
invoices print the practice's name and address, and its zone decides the invoice year."""

from __future__ import annotations

import pytest

from services.billing import ledger
from shared.contracts.registry_data import PracticeUpdated
from tests.integration.conftest import System
from tests.integration.test_billing_support import envelope_of, publish
from tests.support import wait_until

pytestmark = pytest.mark.clock  # runs again at the fixed instants of `make test`


def billing_practice(system: System) -> tuple[str, str, str, str, int]:
    with system.runtimes["billing"].db.sessions() as session:
        row = ledger.settings(session)
        return row.practice_name, row.address, row.time_zone, row.currency, row.practice_revision


def test_a_practice_change_at_the_scheduler_reaches_billing(system: System) -> None:
    system.start("scheduler", "billing")
    current = system.call("scheduler", "GET", "/api/v1/practice").json
    changed = system.call(
        "scheduler",
        "PUT",
        "/api/v1/practice",
        admin=True,
        json={
            "name": "Harbour Street Therapy West",
            "time_zone": "America/Los_Angeles",
            "currency": "USD",
            "cancellation_window_hours": 24,
            "address": "9 Pier Road, Santa Monica, CA 90401",
        },
    )
    assert changed.status_code == 200, changed.json
    revision = changed.json["revision"]
    assert revision == current["revision"] + 1

    wait_until(
        lambda: (
            billing_practice(system)
            == (
                "Harbour Street Therapy West",
                "9 Pier Road, Santa Monica, CA 90401",
                "America/Los_Angeles",
                "USD",
                revision,
            )
        ),
        message="billing's copy of the practice",
    )

    # An older revision arriving late (redelivered, reordered) is handled and changes nothing.
    stale = envelope_of(
        PracticeUpdated(
            practice_id="practice",
            revision=revision - 1,
            name="Old Name",
            time_zone="America/New_York",
            currency="USD",
        )
    )
    publish(system, stale)
    inbox = system.runtimes["billing"].service.tables.inbox
    wait_until(
        lambda: system.count("billing", inbox, inbox.c.event_id == str(stale.id)) == 1,
        message="the stale event to be handled",
    )
    settings = system.call("billing", "GET", "/api/v1/billing/settings", admin=True).json
    assert settings["practice_name"] == "Harbour Street Therapy West"
    assert settings["time_zone"] == "America/Los_Angeles"
