"""An in-process Rapport against the real RabbitMQ and PostgreSQL: each test gets a fresh vhost
and fresh databases, the three services' runtimes, and workers it can start and stop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import jwt
import pytest
from flask import Flask
from sqlalchemy import func, select

from services.bootstrap import bootstrap
from services.scheduler.demo import DEMO_ADMIN, DEMO_LOGIN
from shared import migrations
from shared.config import SERVICES
from shared.demo import demo_id
from shared.service import Runtime
from shared.web import create_service_app
from shared.worker import Worker
from tests.support import days_ahead, fresh_databases, fresh_vhost, service_env, wait_until


class System:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.runtimes: dict[str, Runtime] = {name: bootstrap(name, env=env) for name in SERVICES}
        self.apps: dict[str, Flask] = {
            name: create_service_app(rt) for name, rt in self.runtimes.items()
        }
        self.workers: dict[str, Worker] = {}
        self._tokens: dict[str, str] = {}
        self._slot = 0
        self.base = days_ahead(7, hour=9)

    def prepare(self) -> None:
        for rt in self.runtimes.values():
            migrations.upgrade(rt)
            if rt.service.seed_demo is not None:
                rt.service.seed_demo(rt)

    def start(self, *names: str) -> None:
        for name in names or SERVICES:
            worker = Worker(self.runtimes[name])
            worker.start()
            self.workers[name] = worker

    def stop(self, *names: str) -> None:
        for name in names or list(self.workers):
            worker = self.workers.pop(name, None)
            if worker is not None:
                worker.stop()
                worker.join(10)

    def shutdown(self) -> None:
        self.stop()
        for rt in self.runtimes.values():
            rt.db.dispose()

    # -- HTTP -----------------------------------------------------------------------------------

    def token(self, admin: bool = False) -> str:
        """A bearer token, signed in again once the scheduler's clock (which tests may move)
        has passed the cached one's expiry: tokens expire by the application clock."""
        email, password = DEMO_ADMIN if admin else DEMO_LOGIN
        cached = self._tokens.get(email)
        if cached is None or self._expired(cached):
            response = (
                self.apps["scheduler"]
                .test_client()
                .post("/api/v1/auth/token", json={"email": email, "password": password})
            )
            assert response.status_code == 200, response.json
            self._tokens[email] = response.json["access_token"]
        return self._tokens[email]

    def _expired(self, token: str) -> bool:
        claims = jwt.decode(token, options={"verify_signature": False})
        issued, expires = int(claims["iat"]), int(claims["exp"])
        at = self.runtimes["scheduler"].clock.now().timestamp()
        return not issued <= at < expires

    def sign_out(self) -> None:
        """Forget the tokens signed so far (they expire by the application clock, so a test
        that moves the clock days ahead signs in again)."""
        self._tokens.clear()

    def call(self, service: str, method: str, path: str, admin: bool = False, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token(admin)}", **kw.pop("headers", {})}
        return self.apps[service].test_client().open(path, method=method, headers=headers, **kw)

    def book(
        self,
        service_type: str = "ipt-session",
        client: str = "client-jordan",
        practitioner: str = "dr-rivera",
        **kw: Any,
    ) -> Any:
        """Book the next free slot (each call two hours after the previous one)."""
        starts_at = self.base + timedelta(hours=2 * self._slot)
        self._slot += 1
        return self.call(
            "scheduler",
            "POST",
            "/api/v1/appointments",
            json={
                "client_id": demo_id(client),
                "practitioner_id": demo_id(practitioner),
                "service_type_id": demo_id(service_type),
                "starts_at": starts_at.isoformat(),
            },
            **kw,
        )

    # -- looking into each service's own database ----------------------------------------------

    def count(self, service: str, model: Any, *where: Any) -> int:
        with self.runtimes[service].db.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def rows(self, service: str, model: Any, *where: Any) -> list[Any]:
        with self.runtimes[service].db.sessions() as session:
            return list(session.scalars(select(model).where(*where)))

    def backlog(self, service: str) -> int:
        with self.runtimes[service].db.sessions() as session:
            return self.runtimes[service].service.tables.backlog(session)[0]

    def wait_for_projections(self) -> None:
        """Until billing and the notifier know the demo clients and service types."""
        from services.billing.tables import ClientAccount, ServiceTypeView
        from services.notifier.tables import ClientContact

        wait_until(
            lambda: (
                self.count("billing", ServiceTypeView) == 4
                and self.count("billing", ClientAccount) == 3
                and self.count("notifier", ClientContact) == 3
            ),
            message="projections",
        )


@pytest.fixture
def system_env() -> Iterator[dict[str, str]]:
    with fresh_vhost() as broker, fresh_databases(migrated=True) as databases:
        yield service_env(broker, databases)


@pytest.fixture
def system(system_env: dict[str, str]) -> Iterator[System]:
    s = System(system_env)
    s.prepare()
    try:
        yield s
    finally:
        s.shutdown()
