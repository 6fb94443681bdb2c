"""Workers killed with SIGKILL in the middle of a batch: after a restart every event has had its
effect exactly once (no lost invoice, no second invoice, no gap in the numbers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from services.billing.tables import Invoice, InvoiceLine
from tests.integration.conftest import System
from tests.integration.test_billing_support import invoice_when_booked
from tests.support import wait_until

BOOKINGS = 200


class WorkerProcess:
    def __init__(self, service: str, env: dict[str, str]) -> None:
        self.service = service
        self.env = {**os.environ, **env, "RAPPORT_PREFETCH": "50"}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "worker", self.service],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def workers(system: System) -> Iterator[dict[str, WorkerProcess]]:
    processes = {name: WorkerProcess(name, system.env) for name in ("scheduler", "billing")}
    yield processes
    for process in processes.values():
        process.terminate()


def test_workers_killed_mid_batch_lose_nothing_and_duplicate_nothing(
    system: System, workers: dict[str, WorkerProcess]
) -> None:
    system.start("notifier")
    workers["scheduler"].start()
    workers["billing"].start()
    system.wait_for_projections()
    invoice_when_booked(system)  # one numbered invoice per booking, to count gaps in
    workers["scheduler"].kill()

    ids = []
    for _ in range(BOOKINGS):
        response = system.book()
        assert response.status_code == 201, response.json
        ids.append(response.json["id"])
    assert system.backlog("scheduler") == BOOKINGS

    workers["scheduler"].start()
    wait_until(lambda: system.count("billing", Invoice) >= 20, message="the first invoices")
    workers["scheduler"].kill()
    workers["billing"].kill()
    invoiced_at_kill = system.count("billing", Invoice)
    assert invoiced_at_kill < BOOKINGS, "the kill came too late to interrupt a batch"

    workers["scheduler"].start()
    workers["billing"].start()
    wait_until(
        lambda: system.count("billing", Invoice) == BOOKINGS,
        timeout=90,
        message="every invoice after the restart",
    )
    wait_until(lambda: system.backlog("scheduler") == 0, message="the outbox to drain")

    lines = system.rows("billing", InvoiceLine)
    assert sorted(line.appointment_id for line in lines) == sorted(ids)
    numbers = sorted(
        int(invoice.number.split("-")[1]) for invoice in system.rows("billing", Invoice)
    )
    assert numbers == list(range(1, BOOKINGS + 1))
