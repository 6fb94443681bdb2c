"""The real topology, started by the bench itself: a fresh vhost and fresh databases, migrate and
seed-demo, a gunicorn web (2 workers) and one worker process per service (more on demand), the
fake Twilio and an SMTP sink, and the minimal Flask app the floor is measured on."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import psutil
import psycopg
import requests

from shared.config import SERVICES
from tests.support import free_port, fresh_databases, fresh_vhost, service_env, wait_until

RAPPORT = [sys.executable, "-m", "services.cli"]


def plain_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def worker_name(service: str, index: int) -> str:
    """``billing-worker`` for a service's first worker process, ``billing-worker-2`` after."""
    return f"{service}-worker" if index == 1 else f"{service}-worker-{index}"


def is_service_process(name: str) -> bool:
    """A service's web (gunicorn master) or one of its worker processes, by name."""
    service, _, role = name.partition("-")
    return service in SERVICES and (role == "web" or role.startswith("worker"))


@dataclass
class Topology:
    broker_url: str
    databases: dict[str, str]  # SQLAlchemy URLs per service, plus "floor"
    env: dict[str, str]
    logs: Path
    web: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    floor_url: str = ""

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            args,
            env={**os.environ, **self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def run(self, *args: str) -> None:
        result = subprocess.run(
            [*RAPPORT, *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"rapport {' '.join(args)}: {result.stderr[-2000:]}")

    def start_worker(self, service: str) -> str:
        """One more worker process of ``service`` (its consumers share the service's queue,
        its relay and dispatcher claim rows with SKIP LOCKED); returns its name."""
        index = len(self.workers(service)) + 1
        name = worker_name(service, index)
        self.start(name, [*RAPPORT, "worker", service, "--metrics-port", str(free_port())])
        return name

    def stop_process(self, name: str) -> None:
        process = self.processes.pop(name)
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def workers(self, service: str) -> list[str]:
        return [n for n in self.processes if n.startswith(f"{service}-worker")]

    def service_processes(self) -> dict[str, psutil.Process]:
        """Each service's web (gunicorn master) and worker processes, by name."""
        return {
            name: psutil.Process(p.pid)
            for name, p in self.processes.items()
            if is_service_process(name)
        }

    def cpu_seconds(self) -> float:
        """User + system CPU of every service process and its children, so far."""
        return sum(self.cpu_by_process().values())

    def cpu_by_process(self) -> dict[str, float]:
        """User + system CPU so far of each service process (a web with its gunicorn workers)."""
        spent: dict[str, float] = {}
        for name, process in self.service_processes().items():
            spent[name] = 0.0
            for p in [process, *process.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = p.cpu_times()
                    spent[name] += times.user + times.system
        return spent

    def worker_rss(self) -> dict[str, float]:
        """Resident memory in MB of each service's worker and each gunicorn worker."""
        rss: dict[str, float] = {}
        for name, process in self.service_processes().items():
            with contextlib.suppress(psutil.Error):
                if "-worker" in name:
                    rss[name] = process.memory_info().rss / 1e6
                else:
                    for i, child in enumerate(process.children()):
                        rss[f"{name}-{i + 1}"] = child.memory_info().rss / 1e6
        return rss

    def stop(self) -> None:
        for p in self.processes.values():
            p.terminate()
        for p in self.processes.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@contextlib.contextmanager
def topology(logs: Path, extra_env: dict[str, str] | None = None) -> Iterator[Topology]:
    logs.mkdir(parents=True, exist_ok=True)
    with fresh_vhost() as broker, fresh_databases() as databases, _floor_database() as floor:
        top = Topology(broker, databases | {"floor": floor}, {}, logs)
        try:
            fakes = subprocess.Popen(
                [sys.executable, "-m", "bench.fakes"],
                stdout=subprocess.PIPE,
                stderr=open(logs / "fakes.log", "wb"),  # noqa: SIM115
            )
            top.processes["fakes"] = fakes
            assert fakes.stdout is not None
            fake_env = json.loads(fakes.stdout.readline())
            top.env = service_env(
                broker,
                databases,
                RAPPORT_LOG_LEVEL="INFO",
                NOTIFIER_SMS_PER_SECOND="0",  # pacing off: the bench measures the pipeline
                NOTIFIER_DISPATCH_INTERVAL="1",
                **fake_env,
                **(extra_env or {}),
            )
            top.run("migrate", "all")
            top.run("seed-demo")
            for service in SERVICES:
                port = free_port()
                top.start(
                    f"{service}-web",
                    [*RAPPORT, "web", service, "--bind", f"127.0.0.1:{port}", "--workers", "2"],
                )
                top.start_worker(service)
                top.web[service] = f"http://127.0.0.1:{port}"
            floor_port = free_port()
            with psycopg.connect(plain_dsn(floor), autocommit=True) as conn:
                conn.execute("CREATE TABLE floor_booking (id uuid PRIMARY KEY, body text)")
            top.start(
                "floor-web",
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "bench.minimal_app:app",
                    "--bind",
                    f"127.0.0.1:{floor_port}",
                    "--workers",
                    "2",
                    "--worker-class",
                    "gthread",
                    "--threads",
                    "4",
                    "--keep-alive",
                    "5",
                ],
                env={"BENCH_FLOOR_DATABASE_URL": floor},
            )
            top.floor_url = f"http://127.0.0.1:{floor_port}"
            for url in top.web.values():
                wait_until(partial(_answers, url), timeout=120, message=f"{url} to answer")
            wait_until(lambda: _posts(top.floor_url), timeout=60, message="the floor app to answer")
            top.env["BENCH_TWILIO_URL"] = fake_env["TWILIO_API_BASE_URL"]
            yield top
        finally:
            top.stop()


def _posts(url: str) -> bool:
    try:
        return requests.post(f"{url}/insert", data=b"warm-up", timeout=2).status_code == 201
    except requests.RequestException:
        return False


@contextlib.contextmanager
def _floor_database() -> Iterator[str]:
    """A database of its own for the floor measurements."""
    with fresh_databases() as databases:
        # fresh_databases makes one per service; the floor uses the first and ignores the rest.
        yield next(iter(databases.values()))
