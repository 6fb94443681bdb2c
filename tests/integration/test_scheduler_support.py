"""Fixtures and helpers for the scheduler's integration tests (this module holds no tests).

``scheduler_only`` gives the shared ``System`` with only the scheduler's database migrated and
seeded: these tests look at what the scheduler does and publishes, so they do not depend on
the state of the other services' schemas."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from services.scheduler.tables import EVENTS
from shared import migrations
from shared.contracts import Contract
from shared.envelope import new_envelope
from shared.handlers import Dispatcher
from tests.integration.conftest import System


class SchedulerSystem(System):
    def prepare(self) -> None:
        rt = self.runtimes["scheduler"]
        migrations.upgrade(rt)
        assert rt.service.seed_demo is not None
        rt.service.seed_demo(rt)

    def deliver(self, event: Contract, source: str = "notifier") -> bool:
        """Apply an event to the scheduler's handlers as its worker would (inbox included)."""
        rt = self.runtimes["scheduler"]
        dispatcher = Dispatcher(
            "scheduler", rt.db, rt.service.tables, rt.service.handlers, rt.clock
        )
        envelope = new_envelope(
            event.TYPE,
            event.VERSION,
            event.payload(),
            source=source,
            occurred_at=rt.clock.now(),
            correlation_id=None,
            causation_id=None,
        )
        return dispatcher.dispatch(envelope)


@contextlib.contextmanager
def scheduler_only(system_env: dict[str, str]) -> Iterator[SchedulerSystem]:
    """Use in a module's own fixture: ``with scheduler_only(system_env) as s: yield s``."""
    s = SchedulerSystem(system_env)
    s.prepare()
    try:
        yield s
    finally:
        s.shutdown()


def outbox_events(system: System, event_type: str) -> list[dict[str, Any]]:
    """The data of every event of ``event_type`` the scheduler has committed to its outbox."""
    with system.runtimes["scheduler"].db.sessions() as session:
        bodies = session.scalars(
            select(EVENTS.outbox.c.body)
            .where(EVENTS.outbox.c.type == event_type)
            .order_by(EVENTS.outbox.c.position)
        ).all()
    return [json.loads(body)["data"] for body in bodies]


def audit_entries(system: System, **params: str) -> list[dict[str, Any]]:
    response = system.call("scheduler", "GET", "/api/v1/audit", admin=True, query_string=params)
    assert response.status_code == 200, response.json
    return list(response.json["items"])
