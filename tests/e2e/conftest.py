"""Every service as real processes: gunicorn web and a worker per service, against the real
RabbitMQ and PostgreSQL, each run on fresh databases and a fresh vhost. The databases are
copies of ones already migrated to head (test_migrations covers the migrations, and the
scale-out and check-in runs start from `rapport migrate all` on empty databases)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from services.scheduler.demo import DEMO_ADMIN, DEMO_LOGIN
from shared.config import SERVICES
from tests.support import free_port, fresh_databases, fresh_vhost, service_env, wait_until

RAPPORT = [sys.executable, "-m", "services.cli"]


class Processes:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = {**os.environ, **env}
        self.logs = logs
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def run(self, *args: str) -> str:
        result = subprocess.run(
            [*RAPPORT, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"rapport {' '.join(args)}: {result.stderr}"
        return result.stdout

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [*RAPPORT, *args], env={**self.env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )
        self.running.append((name, process))

    def stop_all(self) -> None:
        for _, process in self.running:
            process.terminate()
        for _, process in self.running:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + p.read_text()[-3000:] for p in sorted(self.logs.glob("*.log"))
        )


class Deployment:
    """Base URLs of each service's web and worker metrics, and a signed-in HTTP session."""

    def __init__(self, web: dict[str, str], worker_metrics: dict[str, str], logs: Path) -> None:
        self.web = web
        self.logs = logs
        self.worker_metrics = worker_metrics
        self.http = requests.Session()

    def sign_in(self, admin: bool = False) -> str:
        email, password = DEMO_ADMIN if admin else DEMO_LOGIN
        response = self.http.post(
            f"{self.web['scheduler']}/api/v1/auth/token",
            json={"email": email, "password": password},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def get(self, service: str, path: str, token: str, **kw: Any) -> requests.Response:
        return self.http.get(
            f"{self.web[service]}{path}",
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
            **kw,
        )

    def post(self, service: str, path: str, token: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        return self.http.post(f"{self.web[service]}{path}", timeout=10, headers=headers, **kw)

    def invoice_when_booked(self) -> None:
        """Put the practice in ``at_booking`` mode (prepaid), for tests that follow an issued
        invoice from a booking made now (the default invoices the day after the session)."""
        admin = self.sign_in(admin=True)
        settings = self.get("billing", "/api/v1/billing/settings", admin).json()
        changed = self.http.put(
            f"{self.web['billing']}/api/v1/billing/settings",
            timeout=10,
            headers={"Authorization": f"Bearer {admin}"},
            json={**settings, "invoice_mode": "at_booking"},
        )
        assert changed.status_code == 200, changed.text


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with fresh_vhost() as broker, fresh_databases(migrated=True) as databases:
        processes = Processes(
            service_env(broker, databases, RAPPORT_LOG_LEVEL="INFO"),
            tmp_path_factory.mktemp("e2e-logs"),
        )
        processes.run("seed-demo")
        web, metrics = {}, {}
        for service in SERVICES:
            web_port, metrics_port = free_port(), free_port()
            processes.start(
                f"{service}-web",
                "web",
                service,
                "--bind",
                f"127.0.0.1:{web_port}",
                "--workers",
                "2",
            )
            processes.start(
                f"{service}-worker", "worker", service, "--metrics-port", str(metrics_port)
            )
            web[service] = f"http://127.0.0.1:{web_port}"
            metrics[service] = f"http://127.0.0.1:{metrics_port}"
        try:
            for url in [*web.values(), *metrics.values()]:
                wait_until(lambda u=url: _answers(u), timeout=90, message=f"{url} to answer")
            yield Deployment(web, metrics, processes.logs)
        except BaseException:
            print(processes.log_tail())
            raise
        finally:
            processes.stop_all()


def _answers(url: str) -> bool:
    """Web: ready (database and broker reachable). Worker: its metrics server answers any path."""
    try:
        return requests.get(f"{url}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False
