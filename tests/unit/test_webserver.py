"""``rapport web`` builds a service's app once in gunicorn's master and forks its workers from it
(``preload_app``), so building the app must make nothing that cannot cross a fork: no database
or broker connection, no thread. Its database and broker here refuse every connection, so a
connection made while building would fail the build."""

from __future__ import annotations

import threading

import pytest

from services.bootstrap import create_app
from shared.config import SERVICES


@pytest.mark.parametrize("service", SERVICES)
def test_building_an_app_connects_to_nothing_and_starts_no_thread(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        f"{service.upper()}_DATABASE_URL", "postgresql+psycopg://rapport@127.0.0.1:1/refused"
    )
    monkeypatch.setenv("RAPPORT_BROKER_URL", "amqp://guest:guest@127.0.0.1:1//")
    monkeypatch.setenv("RAPPORT_SECRET_KEY", "test-secret-" + "x" * 32)
    threads = set(threading.enumerate())

    app = create_app(service)

    assert set(threading.enumerate()) == threads
    pool = app.extensions["rapport"].db.engine.pool
    assert (pool.checkedout(), pool.checkedin()) == (0, 0)
