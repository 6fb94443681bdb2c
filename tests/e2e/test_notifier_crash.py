"""A notifier worker killed between marking a reminder "sending" and recording it "sent": only
the messages in flight (one per sending thread) are in doubt, and none is sent again blindly.
After NOTIFIER_SENDING_TIMEOUT the next worker asks Twilio: a message Twilio has is recorded
sent; one it never got is sent; if Twilio cannot say, it becomes "unknown" and reminder.failed
(outcome_unknown) tells the desk."""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from services.notifier import policy
from services.notifier.tables import Reminder
from shared.clock import FrozenClock
from tests.e2e.conftest import RAPPORT
from tests.fakes.notifier import Notifier, appointment, new_id
from tests.fakes.twilio import Answer, FakeTwilioServer
from tests.support import fresh_databases, fresh_vhost, now, service_env, wait_until

CLIENTS = 200
HELD_AT = 80  # Twilio holds the 80th request; the worker is killed while it waits

pytestmark = pytest.mark.e2e
NO_QUIET_HOURS = policy.DEFAULT.model_copy(update={"quiet_hours": None})


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*RAPPORT, "worker", "notifier"],
        env={**os.environ, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def test_a_worker_killed_mid_send_leaves_a_reminder_for_review_not_a_second_sms(
    tmp_path: Path,
) -> None:
    from services.bootstrap import bootstrap
    from shared import migrations

    twilio = FakeTwilioServer()
    with fresh_vhost() as broker, fresh_databases() as databases, twilio as fake:
        env = service_env(
            broker,
            databases,
            NOTIFIER_DISPATCH_INTERVAL="0.2",
            NOTIFIER_SENDING_TIMEOUT="2",
            **twilio.env(),
        )
        rt = bootstrap("notifier", env=env, clock=FrozenClock(now()))
        migrations.upgrade(rt)
        notifier = Notifier(rt, rt.clock)  # type: ignore[arg-type]
        with rt.db.transaction() as session:  # no quiet hours: the test runs at any hour
            policy.save(session, policy.PRACTICE, NO_QUIET_HOURS, now(), "test")
        notifier.client(preferred_channels=["sms"])
        notifier.practitioner()
        a = new_id()
        notifier.deliver(appointment("book", a, 1, now() + timedelta(days=3)))
        [confirmation] = notifier.rows(Reminder, Reminder.kind == "confirmation")
        fake.script(Answer(201, hang=60))  # Twilio takes the request and the worker dies waiting
        fake.list_error = 503  # and cannot be asked afterwards whether it has the message

        first = _worker(env, tmp_path / "worker-1.log")
        try:
            assert fake.received.wait(30), (tmp_path / "worker-1.log").read_text()
            assert notifier.rows(Reminder, Reminder.id == confirmation.id)[0].status == "sending"
            first.send_signal(signal.SIGKILL)
            first.wait(10)

            second = _worker(env, tmp_path / "worker-2.log")
            try:
                reviewed = wait_until(
                    lambda: (
                        (r := notifier.rows(Reminder, Reminder.id == confirmation.id)[0]).status
                        == "unknown"
                        and r
                    ),
                    timeout=30,
                    message="the stuck reminder to be marked unknown",
                )
                assert reviewed.attempts == 1
                [failed] = notifier.outbox("reminder.failed")
                assert (failed["reminder_id"], failed["reason"]) == (
                    confirmation.id,
                    "outcome_unknown",
                )
                assert len(fake.sent()) == 1  # never sent a second time
            finally:
                second.terminate()
                second.wait(20)
        finally:
            if first.poll() is None:
                first.kill()
            rt.db.dispose()


@pytest.mark.parametrize("threads", [1, 4], ids=["one-thread", "four-threads"])
def test_a_worker_killed_in_the_middle_of_200_sends_strands_nothing_and_sends_nothing_twice(
    tmp_path: Path, threads: int
) -> None:
    from services.bootstrap import bootstrap
    from shared import migrations

    twilio = FakeTwilioServer()
    with fresh_vhost() as broker, fresh_databases() as databases, twilio as fake:
        env = service_env(
            broker,
            databases,
            NOTIFIER_DISPATCH_INTERVAL="0.2",
            NOTIFIER_SENDING_TIMEOUT="2",
            NOTIFIER_SMS_PER_SECOND="0",
            NOTIFIER_SEND_CONCURRENCY=str(threads),
            **twilio.env(),
        )
        rt = bootstrap("notifier", env=env, clock=FrozenClock(now()))
        migrations.upgrade(rt)
        notifier = Notifier(rt, rt.clock)  # type: ignore[arg-type]
        with rt.db.transaction() as session:
            policy.save(session, policy.PRACTICE, NO_QUIET_HOURS, now(), "test")
        notifier.practitioner()
        phones = [f"+1617556{n:04d}" for n in range(CLIENTS)]
        for n, phone in enumerate(phones):
            client = f"00000000-0000-4000-8000-{n:012d}"
            notifier.client(client, phone=phone, preferred_channels=["sms"])
            starts = now() + timedelta(days=3, minutes=n)
            notifier.deliver(appointment("book", new_id(), 1, starts, client_id=client))
        fake.script(*[Answer(201)] * (HELD_AT - 1), Answer(201, hang=60))

        first = _worker(env, tmp_path / "worker-1.log")
        try:
            wait_until(
                lambda: len(fake.sent()) >= HELD_AT,
                timeout=120,
                message="the worker to reach the held request",
            )
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            confirmations = notifier.rows(Reminder, Reminder.kind == "confirmation")
            in_doubt = [r for r in confirmations if r.status == "sending"]
            assert 1 <= len(in_doubt) <= threads  # at most one in doubt per sending thread
            assert {r.status for r in confirmations} <= {"planned", "sending", "sent"}
            if threads == 1:
                assert sum(r.status == "planned" for r in confirmations) == CLIENTS - HELD_AT

            second = _worker(env, tmp_path / "worker-2.log")
            try:
                wait_until(
                    lambda: all(
                        r.status == "sent"
                        for r in notifier.rows(Reminder, Reminder.kind == "confirmation")
                    ),
                    timeout=180,
                    message="every confirmation to be sent",
                )
            finally:
                second.terminate()
                assert second.wait(20) == 0
            assert sorted(r["To"] for r in fake.sent()) == sorted(phones)  # each exactly once
            assert [fake.has(phone) for phone in phones] == [1] * CLIENTS
            settled = [notifier.rows(Reminder, Reminder.id == r.id)[0] for r in in_doubt]
            # Twilio got the held one: recorded from its list, not sent again. Another thread's
            # message killed before it reached Twilio was sent once more (each phone got one).
            attempts = sorted(r.attempts for r in settled)
            assert attempts[0] == 1 and attempts[-1] <= 2
            if threads == 1:
                assert attempts == [1]
            assert notifier.rows(Reminder, Reminder.status == "sending") == []
            assert notifier.outbox("reminder.failed") == []
            assert len(notifier.outbox("reminder.sent")) == CLIENTS
        finally:
            if first.poll() is None:
                first.kill()
            rt.db.dispose()


@pytest.mark.parametrize("threads", [1, 4], ids=["one-thread", "four-threads"])
def test_a_worker_stopped_with_sigterm_mid_send_finishes_that_message_and_leaves_the_rest_planned(
    tmp_path: Path, threads: int
) -> None:
    from services.bootstrap import bootstrap
    from shared import migrations

    twilio = FakeTwilioServer()
    with fresh_vhost() as broker, fresh_databases() as databases, twilio as fake:
        env = service_env(
            broker,
            databases,
            NOTIFIER_DISPATCH_INTERVAL="0.2",
            NOTIFIER_SMS_PER_SECOND="0",
            NOTIFIER_SEND_CONCURRENCY=str(threads),
            **twilio.env(),
        )
        rt = bootstrap("notifier", env=env, clock=FrozenClock(now()))
        migrations.upgrade(rt)
        notifier = Notifier(rt, rt.clock)  # type: ignore[arg-type]
        with rt.db.transaction() as session:
            policy.save(session, policy.PRACTICE, NO_QUIET_HOURS, now(), "test")
        notifier.practitioner()
        for n in range(10):
            client = f"00000000-0000-4000-8000-{n:012d}"
            notifier.client(client, phone=f"+1617557{n:04d}", preferred_channels=["sms"])
            starts = now() + timedelta(days=3, minutes=n)
            notifier.deliver(appointment("book", new_id(), 1, starts, client_id=client))
        fake.script(Answer(201), Answer(201), Answer(201, hang=3))  # SIGTERM lands in the 3rd

        worker = _worker(env, tmp_path / "worker.log")
        try:
            wait_until(lambda: len(fake.sent()) >= 3, timeout=60, message="the third send")
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0, (tmp_path / "worker.log").read_text()
            statuses = sorted(
                r.status for r in notifier.rows(Reminder, Reminder.kind == "confirmation")
            )
            if threads == 1:
                assert statuses == ["planned"] * 7 + ["sent"] * 3
                assert len(fake.sent()) == 3
            else:  # every message in hand finished, none left in doubt, none sent twice
                assert set(statuses) <= {"planned", "sent"}
                assert statuses.count("sent") == len(fake.sent()) >= 3
                assert len({r["To"] for r in fake.sent()}) == len(fake.sent())
        finally:
            if worker.poll() is None:
                worker.kill()
            rt.db.dispose()
