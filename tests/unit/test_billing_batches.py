"""Billing's appointment handler applied to a batch of events in one transaction, on an SQLite
database: the settings read once per transaction yet a practice.updated earlier in the batch
seen by the events after it, a draft's total kept from its lines, and the statements a booking
costs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from services.billing import ledger
from services.billing.handlers import HANDLERS
from services.billing.tables import EVENTS, Base, Fee, Invoice, InvoiceLine
from shared.clock import FrozenClock
from shared.db import Database
from shared.envelope import Envelope, new_envelope
from shared.handlers import Dispatcher

SAMPLES = Path(__file__).parents[2] / "shared/contracts/samples"
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
# 03:00 UTC: still the 9th in New York, already the 10th in Auckland.
LATE_EVENING = datetime(2026, 12, 10, 3, 0, tzinfo=UTC)
SERVICE_TYPE = "70ad2ccd-03bb-405b-a04f-14a7b6d801b2"
CLIENTS = ("126e79e2-e6ca-41d6-a1ad-bc4e10bfa287", "3b1f5c2e-8a4d-4e6f-9b7a-2c8d0e1f3a5b")


def envelope(event_type: str, **data: Any) -> Envelope:
    sample = json.loads((SAMPLES / f"{event_type}.v1.json").read_text())["data"]
    return new_envelope(event_type, 1, {**sample, **data}, source="scheduler", occurred_at=NOW)


def booked(client: str, starts_at: datetime, appointment_id: str | None = None) -> Envelope:
    return envelope(
        "appointment.booked",
        appointment_id=appointment_id or str(uuid.uuid4()),
        client_id=client,
        starts_at=starts_at.isoformat(),
        ends_at=(starts_at + timedelta(minutes=50)).isoformat(),
        course_id=None,
    )


def cancelled_in_time(client: str, starts_at: datetime, appointment_id: str) -> Envelope:
    return envelope(
        "appointment.cancelled",
        appointment_id=appointment_id,
        sequence=2,
        client_id=client,
        starts_at=starts_at.isoformat(),
        ends_at=(starts_at + timedelta(minutes=50)).isoformat(),
        course_id=None,
        cancelled_by="client",
        late=False,
    )


@dataclass
class Billing:
    db: Database
    dispatcher: Dispatcher

    def drafts(self) -> dict[str, tuple[str, int, int]]:
        """Each draft's period: its state, total and number of lines."""
        with self.db.transaction() as session:
            return {
                str(invoice.period_key): (invoice.status, invoice.total_minor, len(invoice.lines))
                for invoice in session.scalars(select(Invoice).where(Invoice.number.is_(None)))
            }


@pytest.fixture
def billing(tmp_path: Path) -> Iterator[Billing]:
    db = Database(f"sqlite:///{tmp_path}/billing.db")
    Base.metadata.create_all(db.engine)
    with db.transaction() as session:
        settings = ledger.settings(session, NOW)
        settings.time_zone = "America/New_York"
        session.add(settings)
        session.add(
            Fee(service_type_id=SERVICE_TYPE, amount_minor=16_000, currency="USD", updated_at=NOW)
        )
    dispatcher = Dispatcher("billing", db, EVENTS, HANDLERS, FrozenClock(NOW))
    dispatcher.dispatch_batch(
        [envelope("client.registered", client_id=client) for client in CLIENTS]
        + [envelope("service_type.defined", service_type_id=SERVICE_TYPE)]
    )
    yield Billing(db, dispatcher)
    db.dispose()


def test_a_practice_updated_earlier_in_the_batch_decides_the_period_of_later_bookings(
    billing: Billing,
) -> None:
    billing.dispatcher.dispatch_batch(
        [
            booked(CLIENTS[0], LATE_EVENING),
            envelope("practice.updated", revision=9, time_zone="Pacific/Auckland"),
            booked(CLIENTS[1], LATE_EVENING),
        ]
    )

    with billing.db.transaction() as session:
        periods = {
            invoice.client_id: invoice.period_key for invoice in session.scalars(select(Invoice))
        }
    assert periods == {CLIENTS[0]: "2026-12-09", CLIENTS[1]: "2026-12-10"}


def test_a_drafts_total_follows_its_lines_through_a_batch(billing: Billing) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    morning, noon = LATE_EVENING + timedelta(hours=11), LATE_EVENING + timedelta(hours=14)

    billing.dispatcher.dispatch_batch(
        [booked(CLIENTS[0], morning, first), booked(CLIENTS[0], noon, second)]
    )
    assert billing.drafts() == {"2026-12-10": ("draft", 32_000, 2)}

    billing.dispatcher.dispatch_batch([cancelled_in_time(CLIENTS[0], morning, first)])
    assert billing.drafts() == {"2026-12-10": ("draft", 16_000, 1)}

    billing.dispatcher.dispatch_batch([cancelled_in_time(CLIENTS[0], noon, second)])
    assert billing.drafts() == {}  # an emptied draft goes, so it never takes a number
    with billing.db.transaction() as session:
        assert session.scalars(select(InvoiceLine)).all() == []


def test_a_booking_in_a_batch_costs_eight_statements(billing: Billing) -> None:
    """The appointment's row (locked, then written), its service type, client and fees in one
    read, the period's draft (created if missing, then locked), the line, its audit row and
    the draft's total; the settings once per batch. It took fourteen."""
    statements: list[str] = []
    event.listen(
        billing.db.engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_: statements.append(statement),
    )
    batch = [booked(CLIENTS[n % 2], LATE_EVENING + timedelta(hours=n)) for n in range(10)]

    billing.dispatcher.dispatch_batch(batch)

    per_batch = 3  # BEGIN, the inbox rows, the settings
    assert len(statements) <= per_batch + 8 * len(batch), statements
