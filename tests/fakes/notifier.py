"""A notifier on a fresh PostgreSQL database, fed events directly through the shared dispatcher
(the same code the consumer runs), with a clock the test moves."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from services.bootstrap import bootstrap
from shared import migrations
from shared.clock import FrozenClock
from shared.contracts import Contract
from shared.contracts.appointments import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentConfirmed,
    AppointmentRescheduled,
)
from shared.contracts.registry_data import ClientRegistered, PractitionerRegistered
from shared.envelope import Envelope, new_envelope
from shared.handlers import Dispatcher
from shared.service import Runtime
from tests.support import fresh_databases, now, service_env

CLIENT = "11111111-1111-4111-8111-111111111111"
PRACTITIONER = "22222222-2222-4222-8222-222222222222"
SERVICE_TYPE = "33333333-3333-4333-8333-333333333333"


def envelope(event: Contract, at: datetime) -> Envelope:
    return new_envelope(
        event.TYPE, event.VERSION, event.payload(), source="scheduler", occurred_at=at
    )


class Notifier:
    def __init__(self, rt: Runtime, clock: FrozenClock) -> None:
        self.rt = rt
        self.clock = clock
        self.dispatcher = Dispatcher(rt.name, rt.db, rt.service.tables, rt.service.handlers, clock)

    def deliver(self, event: Contract | Envelope) -> Envelope:
        env = event if isinstance(event, Envelope) else envelope(event, self.clock.now())
        self.dispatcher.dispatch(env)
        return env

    def client(self, client_id: str = CLIENT, revision: int = 1, **fields: Any) -> None:
        data: dict[str, Any] = {
            "first_name": "Jordan",
            "last_name": "Lee",
            "email": "jordan@example.com",
            "phone": "+16175550123",
            "time_zone": "America/New_York",
            "sms_consent": True,
            "email_consent": True,
        } | fields
        self.deliver(ClientRegistered(client_id=client_id, revision=revision, **data))

    def practitioner(self) -> None:
        self.deliver(
            PractitionerRegistered(
                practitioner_id=PRACTITIONER,
                revision=1,
                display_name="Dr. Ana Rivera",
                time_zone="America/New_York",
            )
        )

    def rows(self, model: Any, *where: Any, order_by: Any = None) -> list[Any]:
        with self.rt.db.sessions() as session:
            statement = select(model).where(*where)
            if order_by is not None:
                statement = statement.order_by(order_by)
            return list(session.scalars(statement))

    def outbox(self, event_type: str) -> list[dict[str, Any]]:
        table = self.rt.service.tables.outbox
        with self.rt.db.sessions() as session:
            rows = session.execute(
                select(table).where(table.c.type == event_type).order_by(table.c.position)
            ).mappings()
            return [Envelope.from_json(row["body"]).data for row in rows]


def appointment(
    kind: str,
    appointment_id: str,
    sequence: int,
    starts_at: datetime,
    *,
    client_id: str = CLIENT,
    **extra: Any,
) -> Contract:
    status = {"cancel": "cancelled", "confirm": "confirmed"}.get(kind, "booked")
    facts: dict[str, Any] = {
        "appointment_id": appointment_id,
        "sequence": sequence,
        "status": status,
        "client_id": client_id,
        "practitioner_id": PRACTITIONER,
        "service_type_id": SERVICE_TYPE,
        "starts_at": starts_at,
        "ends_at": starts_at + timedelta(minutes=50),
        "time_zone": "America/New_York",
    }
    # A fact given by the caller (another practitioner or zone) replaces the default.
    facts |= {name: extra.pop(name) for name in list(extra) if name in facts}
    if kind == "book":
        return AppointmentBooked(**facts, **extra)
    if kind == "reschedule":
        return AppointmentRescheduled(**facts, **extra)
    if kind == "cancel":
        return AppointmentCancelled(**facts, cancelled_by="client", **extra)
    return AppointmentConfirmed(**facts)


def new_id() -> str:
    return str(uuid.uuid4())


@contextmanager
def notifier_on_postgres(at: datetime, **env: str) -> Iterator[Notifier]:
    with fresh_databases() as databases:
        clock = FrozenClock(at.astimezone(UTC))
        settings_env = service_env("amqp://unused", databases, **env)
        rt = bootstrap("notifier", env=settings_env, clock=clock)
        migrations.upgrade(rt)
        try:
            yield Notifier(rt, clock)
        finally:
            rt.db.dispose()


def bearer(rt: Runtime, role: str = "front_desk") -> dict[str, str]:
    from shared.auth import Principal, issue_token

    principal = Principal(user_id=new_id(), email=f"{role}@example.com", role=role, name=role)
    token = issue_token(rt.settings.secret_key, principal, now(), timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}
