"""SMS pacing shared through the notifier's database: two dispatchers (each its own engine, as
two replicas would be) sending at once keep, together, the configured rate per sender number."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Table, select

from services.bootstrap import bootstrap
from services.notifier.dispatcher import ReminderDispatcher, SmsPace
from services.notifier.tables import Base, Message, Reminder, SmsPacing
from shared import migrations
from shared.clock import FrozenClock, SystemClock
from shared.db import Database
from shared.service import Runtime
from tests.fakes.notifier import Notifier, appointment, new_id
from tests.fakes.twilio import FROM_NUMBER, FakeTwilioServer
from tests.support import fresh_databases, service_env

pytestmark = [pytest.mark.integration]
NEW_YORK = ZoneInfo("America/New_York")
AT = datetime(2026, 4, 6, 12, tzinfo=NEW_YORK).astimezone(UTC)  # a weekday noon, no quiet hours
RATE = 10  # SMS per second per sender number
CLIENTS = 24


@pytest.fixture
def replicas() -> Iterator[tuple[Notifier, list[Runtime], FakeTwilioServer]]:
    """One notifier database, written through a frozen clock; two runtimes on it whose
    application clock runs forward from that instant."""
    twilio = FakeTwilioServer()
    with twilio, fresh_databases() as databases:
        env = service_env(
            "amqp://unused",
            databases,
            NOTIFIER_SMS_PER_SECOND=str(RATE),
            NOTIFIER_SEND_CONCURRENCY="4",
            RAPPORT_PUBLIC_URL="https://rapport.example",
            **twilio.env(),
        )
        frozen = FrozenClock(AT)
        seeding = bootstrap("notifier", env=env, clock=frozen)
        migrations.upgrade(seeding)
        running = SystemClock(offset=AT - datetime.now(UTC))
        runtimes = [bootstrap("notifier", env=env, clock=running) for _ in range(2)]
        try:
            yield Notifier(seeding, frozen), runtimes, twilio
        finally:
            for rt in (seeding, *runtimes):
                rt.db.dispose()


def test_two_dispatchers_together_send_no_faster_than_the_configured_rate(
    replicas: tuple[Notifier, list[Runtime], FakeTwilioServer],
) -> None:
    notifier, runtimes, twilio = replicas
    notifier.practitioner()
    phones = [f"+1617558{n:04d}" for n in range(CLIENTS)]
    for n, phone in enumerate(phones):
        client = f"00000000-0000-4000-8000-{n:012d}"
        notifier.client(client, phone=phone, preferred_channels=["sms"])
        starts = AT + timedelta(days=3, minutes=n)
        notifier.deliver(appointment("book", new_id(), 1, starts, client_id=client))
    dispatchers = [ReminderDispatcher(rt) for rt in runtimes]

    threads = [threading.Thread(target=d.run_once, args=(threading.Event(),)) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert sorted(r["To"] for r in twilio.fake.sent()) == phones  # each once
    confirmations = notifier.rows(Reminder, Reminder.kind == "confirmation")
    assert [r.status for r in confirmations] == ["sent"] * CLIENTS
    # When each SMS was marked sending, right before its provider call (the application clock).
    instants = sorted(m.created_at for m in notifier.rows(Message, Message.channel == "sms"))
    assert len(instants) == CLIENTS
    interval = timedelta(seconds=1 / RATE)
    # Slots are one interval apart from the first; a send is never before its slot.
    assert instants[-1] - instants[0] >= (CLIENTS - 1) * interval - timedelta(milliseconds=200)
    for start in instants:  # any one second holds at most the rate (+1 for a slot on its edge)
        in_window = [t for t in instants if start <= t < start + timedelta(seconds=1)]
        assert len(in_window) <= RATE + 1, (start, in_window)


def test_slots_are_taken_one_interval_apart_across_engines_by_the_application_clock(
    replicas: tuple[Notifier, list[Runtime], FakeTwilioServer],
) -> None:
    notifier, runtimes, _ = replicas
    clock = FrozenClock(AT)
    paces = [SmsPace(rt.db, clock, RATE) for rt in runtimes]

    slots = [paces[n % 2].take_slot(FROM_NUMBER) for n in range(4)]
    assert slots == [AT + n * timedelta(seconds=1 / RATE) for n in range(4)]
    assert paces[0].take_slot("+16175550000") == AT  # each sender number has its own pace

    clock.advance(timedelta(minutes=5))  # idle a while: the next slot is now, not in the past
    assert paces[1].take_slot(FROM_NUMBER) == AT + timedelta(minutes=5)


def test_pacing_off_touches_no_row(
    replicas: tuple[Notifier, list[Runtime], FakeTwilioServer],
) -> None:
    notifier, runtimes, _ = replicas
    SmsPace(runtimes[0].db, FrozenClock(AT), 0).wait(FROM_NUMBER, threading.Event())
    assert notifier.rows(SmsPacing) == []


class _SlowWait(threading.Event):
    """A stop event whose every wait lasts ``by`` on the application clock."""

    def __init__(self, clock: FrozenClock, by: timedelta) -> None:
        super().__init__()
        self.clock, self.by = clock, by

    def wait(self, timeout: float | None = None) -> bool:
        self.clock.advance(self.by)
        return False


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_a_claim_takes_its_slot_and_moves_the_row_on_after_its_wait(
    backend: str, tmp_path: Path
) -> None:
    """In a claim's transaction the row is locked, read, and written once, after the wait: one
    interval after the moment the message actually went (here the clock moved on meanwhile)."""
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            db = Database(f"sqlite:///{tmp_path / 'notifier.db'}")
        else:
            url = stack.enter_context(fresh_databases())["notifier"]
            db = Database(url)
        stack.callback(db.dispose)
        Base.metadata.create_all(db.engine, tables=[cast(Table, SmsPacing.__table__)])
        clock = FrozenClock(AT)
        pace = SmsPace(db, clock, RATE)
        interval = timedelta(seconds=1 / RATE)

        assert pace.take_slot(FROM_NUMBER) == AT  # the row is made on first use
        with db.transaction() as session:  # waits for its slot, AT + interval, and goes late
            pace.wait(FROM_NUMBER, _SlowWait(clock, timedelta(seconds=3)), session)
        with db.transaction() as session:
            [row] = session.scalars(select(SmsPacing)).all()
            assert row.next_at == AT + timedelta(seconds=3) + interval
        assert pace.take_slot(FROM_NUMBER) == AT + timedelta(seconds=3) + interval
