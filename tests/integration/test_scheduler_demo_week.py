"""The demo's week: `make run` opens on this week's sessions in several states, published
like any booking, and booked only once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from services.scheduler.demo_week import SESSIONS, seed_week
from services.scheduler.tables import Appointment
from tests.integration.test_scheduler_support import (
    SchedulerSystem,
    outbox_events,
    scheduler_only,
)
from tests.support import PRACTICE_ZONE, now, today

pytestmark = pytest.mark.clock  # the states depend on the instant


@pytest.fixture
def scheduler_system(system_env: dict[str, str]) -> Iterator[SchedulerSystem]:
    with scheduler_only(system_env) as s:
        yield s


def test_the_demo_week_holds_sessions_in_several_states_once(
    scheduler_system: SchedulerSystem,
) -> None:
    rt = scheduler_system.runtimes["scheduler"]
    assert seed_week(rt) == len(SESSIONS)
    assert seed_week(rt) == 0  # never twice
    monday = today() - timedelta(days=today().weekday())
    with rt.db.sessions() as session:
        rows = list(session.scalars(select(Appointment)))
    assert len(rows) == len(SESSIONS)
    week = {monday + timedelta(days=n) for n in range(7)}
    assert {a.starts_at.astimezone(PRACTICE_ZONE).date() for a in rows} <= week
    statuses = {a.status for a in rows}
    past = [a for a in rows if a.starts_at <= now()]
    future = [a for a in rows if a.starts_at > now()]
    assert all(a.status in {"completed", "no_show", "checked_in"} for a in past)
    assert all(a.status in {"booked", "confirmed", "cancelled"} for a in future)
    assert len(statuses) >= 2, statuses
    assert len(outbox_events(scheduler_system, "appointment.booked")) == len(SESSIONS)
