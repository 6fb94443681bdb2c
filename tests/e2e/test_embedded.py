"""`rapport dev` (what `make run` starts): one process, SQLite, the in-memory bus, demo data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from services.scheduler.demo import DEMO_LOGIN
from shared.demo import demo_id
from tests.support import clock_env, days_ahead, free_port, now, wait_until

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock


def test_the_embedded_default_runs_the_whole_slice(tmp_path: Path) -> None:
    port = free_port()
    # A newcomer's environment: none of the suite's settings, but the suite's clock.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RAPPORT_", "SCHEDULER_", "NOTIFIER_", "BILLING_"))
    } | clock_env()
    env["RAPPORT_VAR_DIR"] = str(tmp_path / "var")
    output = tmp_path / "dev.log"
    with open(output, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "dev", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ok(f"{base}/healthz"), timeout=90, message="rapport dev to start")
        # At the suite's instant (RAPPORT_TEST_NOW), like every process the suite starts.
        served_now = requests.get(f"{base}/healthz", timeout=5).json()["now"]
        assert abs(datetime.fromisoformat(served_now) - now()) < timedelta(seconds=30)
        printed = output.read_text()
        assert f"Front desk:   {base}/" in printed
        assert DEMO_LOGIN[0] in printed and DEMO_LOGIN[1] in printed

        token = requests.post(
            f"{base}/api/v1/auth/token",
            timeout=5,
            json=dict(zip(("email", "password"), DEMO_LOGIN, strict=True)),
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        starts_at = days_ahead(4, hour=11)
        booked = requests.post(
            f"{base}/api/v1/appointments",
            headers=auth,
            timeout=5,
            json={
                "client_id": demo_id("client-marek"),
                "practitioner_id": demo_id("dr-rivera"),
                "service_type_id": demo_id("ipt-session"),
                "starts_at": starts_at.isoformat(),
            },
        )
        assert booked.status_code == 201, booked.text
        appointment_id = booked.json()["id"]
        invoices = wait_until(
            lambda: requests.get(
                f"{base}/api/v1/invoices",
                headers=auth,
                timeout=5,
                params={"appointment_id": appointment_id},
            ).json()["items"],
            message="the invoice",
        )
        assert invoices[0]["total_minor"] == 16000
        reminders = wait_until(
            lambda: requests.get(
                f"{base}/api/v1/reminders",
                headers=auth,
                timeout=5,
                params={"appointment_id": appointment_id},
            ).json()["items"],
            message="the reminders",
        )
        assert {r["channel"] for r in reminders} == {"email"}  # Marek has no mobile number
        for service in ("scheduler", "notifier", "billing"):
            assert (tmp_path / "var" / f"{service}.db").exists()
        # Links it hands out follow the port it serves, not a default.
        feed = requests.get(
            f"{base}/api/v1/clients/{demo_id('client-marek')}/feed", headers=auth, timeout=5
        ).json()
        assert feed["url"].startswith(f"{base}/feeds/client/"), feed
        assert requests.get(feed["url"], timeout=5).status_code == 200

        # A second one on the same port says so at once, before touching any database.
        second_var = tmp_path / "second"
        started = time.monotonic()
        second = subprocess.run(
            [sys.executable, "-m", "services.cli", "dev", "--port", str(port)],
            env={**env, "RAPPORT_VAR_DIR": str(second_var)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 2
        assert f"Port {port} on 127.0.0.1 is already in use" in second.stderr
        assert f"RAPPORT_PORT={port + 1} make run" in second.stderr
        assert not second_var.exists() or not any(second_var.iterdir())
        assert time.monotonic() - started < 60  # no migrations, no seeding: just the check
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(20)
    assert process.returncode == 0, output.read_text()[-2000:]
    # A person's console: the banner and readable warnings, not JSON lines of every request.
    printed = output.read_text()
    assert '"level"' not in printed and "request served" not in printed, printed[-2000:]


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False
