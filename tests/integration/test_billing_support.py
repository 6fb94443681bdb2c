"""Helpers (no tests here) for billing's integration tests: appointment events published
straight onto the broker (so a test controls their order, sequence and redelivery)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from services.billing.tables import (
    ClientAccount,
    Invoice,
    InvoiceLine,
    PractitionerAccount,
    ServiceTypeView,
)
from shared.contracts import Contract
from shared.contracts.appointments import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentRescheduled,
)
from shared.demo import demo_id
from shared.envelope import Envelope, new_envelope
from tests.integration.conftest import System
from tests.support import days_ahead, now, publish_events, wait_until

ZONE = "America/New_York"


def envelope_of(event: Contract) -> Envelope:
    return new_envelope(
        event.TYPE,
        event.VERSION,
        event.payload(),
        source="scheduler",
        occurred_at=now(),
    )


def publish(system: System, *envelopes: Envelope) -> None:
    publish_events(
        system.env["RAPPORT_BROKER_URL"],
        *((envelope.type, envelope.to_json().encode()) for envelope in envelopes),
    )


class Appointment:
    """One appointment's facts, from which a test makes its events with rising sequences."""

    def __init__(
        self,
        starts_at: datetime,
        service_type: str = "ipt-session",
        client: str = "client-jordan",
        practitioner: str = "dr-rivera",
        course_id: str | None = None,
    ) -> None:
        self.id = str(uuid.uuid4())
        self.starts_at = starts_at
        self.facts: dict[str, Any] = {
            "appointment_id": self.id,
            "client_id": demo_id(client),
            "practitioner_id": demo_id(practitioner),
            "service_type_id": demo_id(service_type),
            "time_zone": ZONE,
            "course_id": course_id,
        }

    def _at(self, sequence: int, status: str, starts_at: datetime | None = None) -> dict[str, Any]:
        start = starts_at or self.starts_at
        return {
            **self.facts,
            "sequence": sequence,
            "status": status,
            "starts_at": start,
            "ends_at": start + timedelta(minutes=50),
        }

    def booked(self, sequence: int = 1) -> Envelope:
        return envelope_of(AppointmentBooked(**self._at(sequence, "booked")))

    def rescheduled(self, sequence: int, to: datetime) -> Envelope:
        event = AppointmentRescheduled(
            **self._at(sequence, "booked", to), previous_starts_at=self.starts_at
        )
        return envelope_of(event)

    def cancelled(self, sequence: int, by: str, late: bool) -> Envelope:
        return envelope_of(
            AppointmentCancelled(**self._at(sequence, "cancelled"), cancelled_by=by, late=late)
        )

    def no_show(self, sequence: int) -> Envelope:
        return envelope_of(AppointmentNoShow(**self._at(sequence, "no_show")))


def invoices_of(system: System, appointment_id: str) -> list[dict[str, Any]]:
    response = system.call("billing", "GET", f"/api/v1/invoices?appointment_id={appointment_id}")
    assert response.status_code == 200, response.json
    return response.json["items"]


def lines_of(system: System, appointment_id: str) -> list[tuple[str, str, int]]:
    with system.runtimes["billing"].db.sessions() as session:
        rows = session.scalars(
            select(InvoiceLine)
            .where(InvoiceLine.appointment_id == appointment_id)
            .order_by(InvoiceLine.created_at)
        )
        return [(line.kind, line.status, line.amount_minor) for line in rows]


def invoice_count(system: System) -> int:
    return system.count("billing", Invoice)


def outbox_types(system: System) -> list[str]:
    outbox = system.runtimes["billing"].service.tables.outbox
    with system.runtimes["billing"].db.sessions() as session:
        return [row.type for row in session.execute(outbox.select().order_by(outbox.c.position))]


def next_week(hours: int = 0) -> datetime:
    """10:00 in the practice's zone a week from today there, plus ``hours``."""
    return days_ahead(7, hour=10) + timedelta(hours=hours)


def set_invoice_mode(system: System, mode: str) -> None:
    settings = system.call("billing", "GET", "/api/v1/billing/settings").json
    changed = system.call(
        "billing",
        "PUT",
        "/api/v1/billing/settings",
        admin=True,
        json={**settings, "invoice_mode": mode},
    )
    assert changed.status_code == 200, changed.json


def invoice_when_booked(system: System) -> None:
    """Put the practice in ``at_booking`` mode (prepaid: every booking invoiced at once), for
    tests whose subject is an issued invoice rather than when it is raised."""
    set_invoice_mode(system, "at_booking")


def wait_for_billing_projections(system: System) -> None:
    """Until billing knows the demo clients, practitioners and service types."""
    wait_until(
        lambda: (
            system.count("billing", ServiceTypeView) == 4
            and system.count("billing", ClientAccount) == 3
            and system.count("billing", PractitionerAccount) == 2
        ),
        message="billing's projections",
    )
