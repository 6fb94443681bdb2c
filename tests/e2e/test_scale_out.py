"""Scale-out on one RabbitMQ and PostgreSQL: two workers of every service compete on their
queues and two relays share each outbox. A few hundred bookings: every effect happens exactly
once, and every replica did part of the work."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from shared.config import SERVICES
from shared.demo import demo_id
from tests.e2e.conftest import Deployment, Processes
from tests.support import (
    days_ahead,
    free_port,
    fresh_databases,
    fresh_vhost,
    service_env,
    wait_until,
)

BOOKINGS = 300
PRACTITIONERS = ("dr-rivera", "sam-okafor")
CLIENTS = ("client-jordan", "client-priya", "client-marek")


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Deployment, dict[str, list[str]], str]]:
    with fresh_vhost() as broker, fresh_databases() as databases:
        env = service_env(
            broker,
            databases,
            RAPPORT_PREFETCH="10",
            NOTIFIER_DISPATCH_INTERVAL="0.2",
            NOTIFIER_SMS_PER_SECOND="0",
        )
        processes = Processes(env, tmp_path_factory.mktemp("scale-logs"))
        processes.run("migrate", "all")
        processes.run("seed-demo")
        web, workers = {}, {service: [] for service in SERVICES}
        for service in SERVICES:
            port = free_port()
            processes.start(
                f"{service}-web", "web", service, "--bind", f"127.0.0.1:{port}", "--workers", "2"
            )
            web[service] = f"http://127.0.0.1:{port}"
            for replica in (1, 2):
                metrics = free_port()
                processes.start(
                    f"{service}-worker-{replica}", "worker", service, "--metrics-port", str(metrics)
                )
                workers[service].append(f"http://127.0.0.1:{metrics}")
        try:
            for url in [*web.values(), *(u for urls in workers.values() for u in urls)]:
                wait_until(lambda u=url: _up(u), timeout=90, message=f"{url} to answer")
            yield Deployment(web, {}, processes.logs), workers, databases["notifier"]
        except BaseException:
            print(processes.log_tail())
            raise
        finally:
            processes.stop_all()


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _slots() -> list[dict[str, str]]:
    """Weekday mornings in New York, two practitioners in parallel, never one client twice."""
    day = days_ahead(2, hour=9)
    bookings: list[dict[str, str]] = []
    while len(bookings) < BOOKINGS:
        day += timedelta(days=1)
        if day.weekday() >= 5:
            continue
        for hour in range(5):
            for index, practitioner in enumerate(PRACTITIONERS):
                bookings.append(
                    {
                        "client_id": demo_id(CLIENTS[(hour + index) % len(CLIENTS)]),
                        "practitioner_id": demo_id(practitioner),
                        "service_type_id": demo_id("ipt-session"),
                        "starts_at": (day + timedelta(hours=hour)).isoformat(),
                    }
                )
    return bookings[:BOOKINGS]


def _sample_sum(metrics_url: str, name: str, **labels: str) -> float:
    exposition = requests.get(metrics_url, timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def _processed(metrics_url: str, service: str, event_type: str) -> float:
    return _sample_sum(
        metrics_url,
        "rapport_events_consumed_total",
        service=service,
        type=event_type,
        outcome="processed",
    )


def test_replicas_share_the_work_and_every_effect_happens_once(
    replicas: tuple[Deployment, dict[str, list[str]], str],
) -> None:
    deployment, workers, notifier_db = replicas
    token = deployment.sign_in()
    deployment.invoice_when_booked()
    # Confirmations only, and no quiet hours, so that every booking has messages due now for
    # the two dispatchers to share, whatever the time of day of the run.
    policy = deployment.http.put(
        f"{deployment.web['notifier']}/api/v1/reminder-policy",
        timeout=10,
        headers={"Authorization": f"Bearer {deployment.sign_in(admin=True)}"},
        json={
            "rules": [
                {"kind": "confirmation", "channel": "email"},
                {"kind": "confirmation", "channel": "sms"},
            ],
            "quiet_hours": None,
        },
    )
    assert policy.status_code == 200, policy.text

    def book(body: dict[str, str]) -> str:
        response = deployment.post("scheduler", "/api/v1/appointments", token, json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(book, _slots()))
    assert len(set(ids)) == BOOKINGS

    def every(service: str, path: str, **params: str) -> list[dict]:
        """Every item of a list, page by page (a list answers at most ``limit`` at a time)."""
        found: list[dict] = []
        query: dict[str, str | int] = {"limit": 200, **params}
        while True:
            page = deployment.get(service, path, token, params=query).json()
            found += page["items"]
            if not page["has_more"]:
                return found
            query["cursor"] = page["next_cursor"]

    def invoices() -> list[dict]:
        return every("billing", "/api/v1/invoices")

    wait_until(lambda: len(invoices()) == BOOKINGS, timeout=120, message="every invoice")
    numbers = sorted(int(i["number"].split("-")[1]) for i in invoices())
    assert numbers == list(range(1, BOOKINGS + 1))
    assert sorted(line["appointment_id"] for i in invoices() for line in i["lines"]) == sorted(ids)

    def reminders() -> list[dict]:
        return [
            r
            for client in CLIENTS
            for r in every("notifier", "/api/v1/reminders", client_id=demo_id(client))
        ]

    wait_until(
        lambda: {r["appointment_id"] for r in reminders()} == set(ids),
        timeout=120,
        message="a reminder plan for every booking",
    )
    plans = [(r["appointment_id"], r["kind"], r["channel"]) for r in reminders()]
    assert len(plans) == len(set(plans)), "a reminder was planned twice"

    for service in ("billing", "notifier"):
        shares = [_processed(url, service, "appointment.booked") for url in workers[service]]
        assert sum(shares) == BOOKINGS, (service, shares)
        assert all(share > 0 for share in shares), (service, shares)

    # The two dispatchers: every confirmation sent exactly once, and both of them sent some.
    wait_until(
        lambda: sum(r["status"] == "sent" for r in reminders()) == len(plans),
        timeout=120,
        message="every confirmation to be sent",
    )
    sent = [_sample_sum(url, "rapport_reminders_sent_total") for url in workers["notifier"]]
    assert sum(sent) == len(plans), sent
    assert all(share > 0 for share in sent), sent
    engine = create_engine(notifier_db)
    with engine.connect() as connection:
        recorded = connection.execute(text("SELECT count(*) FROM sandbox_message")).scalar()
    engine.dispose()
    assert recorded == len(plans)
