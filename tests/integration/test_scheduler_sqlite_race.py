"""The embedded default (SQLite) has no exclusion constraint: every write transaction starts
with BEGIN IMMEDIATE, so concurrent check-then-insert bookings run one after another. Twenty
threads booking one slot through the real Flask app get one 201 and nineteen 409s."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from services.bootstrap import bootstrap
from services.scheduler.demo import DEMO_LOGIN
from shared import migrations
from shared.demo import demo_id
from shared.web import create_service_app
from tests.support import days_ahead


def test_concurrent_bookings_on_sqlite_are_serialized(
    system_env: dict[str, str], tmp_path: Path
) -> None:
    env = system_env | {"SCHEDULER_DATABASE_URL": f"sqlite:///{tmp_path}/scheduler.db"}
    rt = bootstrap("scheduler", env=env)
    migrations.upgrade(rt)
    assert rt.service.seed_demo is not None
    rt.service.seed_demo(rt)
    app = create_service_app(rt)
    token = (
        app.test_client()
        .post("/api/v1/auth/token", json={"email": DEMO_LOGIN[0], "password": DEMO_LOGIN[1]})
        .json["access_token"]
    )
    starts_at = days_ahead(4, hour=10)
    clients = ["client-jordan", "client-priya", "client-marek"]

    def book(i: int) -> tuple[int, dict[str, str]]:
        response = app.test_client().post(
            "/api/v1/appointments",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "client_id": demo_id(clients[i % 3]),
                "practitioner_id": demo_id("dr-rivera"),
                "service_type_id": demo_id("ipt-session"),
                "starts_at": starts_at.isoformat(),
            },
        )
        return response.status_code, response.json

    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(book, range(20)))
        assert sorted(status for status, _ in results) == [201] + [409] * 19
        assert {body["conflicting_starts_at"] for status, body in results if status == 409} == {
            starts_at.isoformat()
        }
    finally:
        rt.db.dispose()
