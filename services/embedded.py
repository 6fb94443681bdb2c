"""The embedded default: all three services in one process, one SQLite file each, on kombu's
in-memory transport with the same topology. Nothing to install."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Mapping

from werkzeug.serving import make_server

from services.bootstrap import bootstrap
from services.gateway import PathRouter
from shared import migrations
from shared.config import SERVICES
from shared.service import Runtime
from shared.web import create_service_app
from shared.worker import Worker

log = logging.getLogger(__name__)

EMBEDDED_DEFAULTS = {
    "RAPPORT_BROKER_URL": "memory://localhost/",
    "RAPPORT_QUEUE_TYPE": "classic",
    "RAPPORT_RETRY_DELAYS": "1,5,30,120",
}


def embedded_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    for key, value in EMBEDDED_DEFAULTS.items():
        env.setdefault(key, value)
    return env


class EmbeddedSystem:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = embedded_env(env)
        self.runtimes: dict[str, Runtime] = {name: bootstrap(name, env=env) for name in SERVICES}
        self.workers: list[Worker] = []

    def migrate(self) -> None:
        for rt in self.runtimes.values():
            migrations.upgrade(rt)

    def seed_demo(self) -> list[str]:
        return [
            rt.name
            for rt in self.runtimes.values()
            if rt.service.seed_demo is not None and rt.service.seed_demo(rt)
        ]

    def start_workers(self) -> None:
        for rt in self.runtimes.values():
            worker = Worker(rt)
            worker.start()
            self.workers.append(worker)

    def wsgi_app(self) -> PathRouter:
        return PathRouter({name: create_service_app(rt) for name, rt in self.runtimes.items()})

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for worker in self.workers:
            worker.join(5)


class PortInUse(RuntimeError):
    pass


def _not_ready(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
    start_response("503 Service Unavailable", [("Retry-After", "1")])
    return [b"Rapport is starting.\n"]


def serve(host: str, port: int, seed: bool = True) -> int:
    # The port first: a newcomer learns it is taken before migrations and demo data, not after
    # (werkzeug would only find out at the end, and exit with its own words).
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise PortInUse(
            f"Port {port} on {host} is already in use. Stop what is using it, or run Rapport on "
            f"another port: RAPPORT_PORT={port + 1} make run"
        ) from exc
    listener.listen(128)
    server = make_server(host, port, _not_ready, threaded=True, fd=listener.fileno())
    # Links the services hand out (feeds, Twilio callbacks) follow the port actually served.
    os.environ.setdefault("RAPPORT_PUBLIC_URL", public_base(host, port))
    system = EmbeddedSystem()
    system.migrate()
    if seed:
        system.seed_demo()
        # The first screen shows this week's sessions (booked once, on a new practice).
        from services.scheduler.demo_week import seed_week

        seed_week(system.runtimes["scheduler"])
    system.start_workers()
    server.app = system.wsgi_app()
    stopping = threading.Event()

    def _stop(*_: object) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    _announce(host, port, system)
    try:
        server.serve_forever()
    finally:
        system.stop()
    return 1 if any(w.failed.is_set() for w in system.workers) and not stopping.is_set() else 0


def public_base(host: str, port: int) -> str:
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"  # noqa: S104


def _announce(host: str, port: int, system: EmbeddedSystem) -> None:
    from services.scheduler.demo import DEMO_ADMIN, DEMO_LOGIN

    base = public_base(host, port)
    lines = [
        "",
        "Rapport is running (embedded default: one process, SQLite files in "
        f"{os.environ.get('RAPPORT_VAR_DIR', 'var')}/, in-memory message bus).",
        f"  Front desk:   {base}/",
        f"  API:          {base}/api/v1/  (sign in: POST {base}/api/v1/auth/token)",
        f"  Health:       {base}/healthz   Metrics: {base}/metrics",
        f"  Demo login:   {DEMO_LOGIN[0]} / {DEMO_LOGIN[1]}   "
        f"(admin: {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]})",
        "Press Ctrl+C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)
