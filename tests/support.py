"""Helpers for tests that use the real RabbitMQ and PostgreSQL on this machine: a fresh vhost
and fresh databases per test, and waiting for eventual outcomes."""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from typing import TypeVar
from zoneinfo import ZoneInfo

import psycopg
import requests
from kombu import Connection, Exchange, Producer

from shared import clock
from shared.config import SERVICES

PG_ADMIN = os.environ.get("RAPPORT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BASE = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
RABBIT = os.environ.get("RAPPORT_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672")
RABBIT_API = os.environ.get("RAPPORT_TEST_RABBIT_API", "http://127.0.0.1:15672/api")
T = TypeVar("T")
# The demo practice's zone: "today", a practice's day and invoice years are read in it.
PRACTICE_ZONE = ZoneInfo("America/New_York")


def now() -> datetime:
    """The application clock (RAPPORT_TEST_NOW places it), as every service process reads it."""
    return clock.now()


def clock_env() -> dict[str, str]:
    """The variables that put a process the suite starts on the suite's clock."""
    return {k: os.environ[k] for k in (clock.TEST_NOW, clock.TEST_NOW_ANCHOR) if k in os.environ}


def today(zone: ZoneInfo = PRACTICE_ZONE) -> date:
    """Today's date where ``zone`` is, by the application clock."""
    return now().astimezone(zone).date()


def local(day: date, hour: int, minute: int = 0, zone: ZoneInfo = PRACTICE_ZONE) -> datetime:
    """A wall-clock time on ``day`` in ``zone``, as an aware UTC instant."""
    return datetime.combine(day, wall_time(hour, minute), zone).astimezone(UTC)


def days_ahead(
    days: int, hour: int = 10, minute: int = 0, zone: ZoneInfo = PRACTICE_ZONE
) -> datetime:
    """``hour:minute`` in ``zone`` on the day ``days`` after today there: a time that is in
    working hours and on a known local day whatever instant the suite runs at."""
    return local(today(zone) + timedelta(days=days), hour, minute, zone)


def rabbitmqctl(*args: str) -> str:
    result = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


@contextlib.contextmanager
def fresh_vhost() -> Iterator[str]:
    """A RabbitMQ vhost of its own (through the management API, which answers in milliseconds
    where rabbitmqctl boots a VM per call); yields the broker URL for it."""
    name = f"rapport-test-{uuid.uuid4().hex[:10]}"
    auth = ("guest", "guest")
    requests.put(f"{RABBIT_API}/vhosts/{name}", auth=auth, timeout=30).raise_for_status()
    requests.put(
        f"{RABBIT_API}/permissions/{name}/guest",
        auth=auth,
        timeout=30,
        json={"configure": ".*", "write": ".*", "read": ".*"},
    ).raise_for_status()
    try:
        yield f"{RABBIT}/{name}"
    finally:
        with contextlib.suppress(Exception):
            requests.delete(f"{RABBIT_API}/vhosts/{name}", auth=auth, timeout=30)


# Databases migrated to head once per test process, copied for each test that asks for them:
# PostgreSQL copies a small database faster than Alembic runs three services' histories.
_TEMPLATE_PREFIX = "rapport_template_"
_templates: dict[str, str] = {}


def _migrated_template(service: str) -> str:
    """The name of this process's template database of ``service``, at head."""
    if service in _templates:
        return _templates[service]
    from services.bootstrap import bootstrap
    from shared import migrations

    if not _templates:
        _drop_orphaned_templates()
        atexit.register(drop_templates)  # a process outside pytest
    name = f"{_TEMPLATE_PREFIX}{os.getpid()}_{service}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = service_env("memory://", {service: f"{PG_BASE}/{name}"})
    runtime = bootstrap(service, env=env)
    try:
        migrations.upgrade(runtime)
    finally:
        runtime.db.dispose()  # a template must have no connections when it is copied
    _templates[service] = name
    return name


def drop_templates() -> None:
    """Drop this process's template databases and those of test processes that have ended."""
    with contextlib.suppress(psycopg.Error), psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for name in _templates.values():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _templates.clear()
    with contextlib.suppress(psycopg.Error):
        _drop_orphaned_templates()


def _drop_orphaned_templates() -> None:
    """Templates of test processes that are gone (killed before their exit handler ran)."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        names = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (_TEMPLATE_PREFIX + "%",)
        ).fetchall()
        for (name,) in names:
            pid = int(name.removeprefix(_TEMPLATE_PREFIX).split("_", 1)[0])
            if not _process_alive(pid):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def fresh_databases(migrated: bool = False) -> Iterator[dict[str, str]]:
    """One new PostgreSQL database per service; yields their SQLAlchemy URLs. ``migrated``:
    each a copy of a database already at the head of its service's migrations."""
    tag = uuid.uuid4().hex[:10]
    names = {service: f"rapport_test_{tag}_{service}" for service in SERVICES}
    templates = {service: _migrated_template(service) for service in SERVICES} if migrated else {}
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for service, name in names.items():
            if migrated:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{templates[service]}"')
            else:
                conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {service: f"{PG_BASE}/{name}" for service, name in names.items()}
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def service_env(broker_url: str, databases: dict[str, str], **extra: str) -> dict[str, str]:
    env = {
        "RAPPORT_BROKER_URL": broker_url,
        "RAPPORT_SECRET_KEY": "test-secret-" + "x" * 32,
        "RAPPORT_QUEUE_TYPE": "quorum",
        "RAPPORT_RETRY_DELAYS": "0.2,0.4",
        "RAPPORT_MAX_ATTEMPTS": "3",
        "RAPPORT_RELAY_INTERVAL": "0.05",
        "RAPPORT_LOG_LEVEL": "INFO",
    }
    env |= {f"{service.upper()}_DATABASE_URL": url for service, url in databases.items()}
    env |= extra
    return env


def publish_events(broker_url: str, *messages: tuple[str, bytes]) -> None:
    """Put (routing key, body) messages on the events exchange as a service would: persistent
    and with publisher confirms, so each is in its queues before this returns. Without confirms
    a burst published just before the connection closes can lose its tail: a quorum queue that
    has not taken the messages in yet when the channel goes away never gets them."""
    with Connection(broker_url, transport_options={"confirm_publish": True}) as connection:
        producer = Producer(connection.channel())
        exchange = Exchange("rapport.events", type="topic", durable=True)
        for routing_key, body in messages:
            producer.publish(
                body,
                exchange=exchange,
                routing_key=routing_key,
                content_type="application/json",
                delivery_mode=2,
            )


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 20.0,
    interval: float = 0.1,
    message: str = "condition",
) -> T:
    deadline = time.monotonic() + timeout
    last: T = predicate()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
        last = predicate()
    return last


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def broker_stopped() -> Iterator[None]:
    """Stop the RabbitMQ application (a real outage for every client), restart it afterwards."""
    rabbitmqctl("stop_app")
    try:
        yield
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
