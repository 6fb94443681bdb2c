"""Scale-out on one RabbitMQ and PostgreSQL: two workers of every service compete on their
queues and two relays share each outbox. A few hundred bookings: every effect happens exactly
once, and every replica did part of the work."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from shared.config import SERVICES
from shared.demo import demo_id
from tests.e2e.conftest import Deployment, Processes
from tests.support import free_port, fresh_databases, fresh_vhost, service_env, wait_until

BOOKINGS = 300
PRACTITIONERS = ("dr-rivera", "sam-okafor")
CLIENTS = ("client-jordan", "client-priya", "client-marek")


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, dict]]:
    with fresh_vhost() as broker, fresh_databases() as databases:
        processes = Processes(
            service_env(broker, databases, RAPPORT_PREFETCH="10"),
            tmp_path_factory.mktemp("scale-logs"),
        )
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
            yield Deployment(web, {}, processes.logs), workers
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
    day = (datetime.now(UTC) + timedelta(days=2)).replace(
        hour=14, minute=0, second=0, microsecond=0
    )
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


def _processed(metrics_url: str, service: str, event_type: str) -> float:
    text = requests.get(metrics_url, timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "rapport_events_consumed_total"
                and sample.labels.get("service") == service
                and sample.labels.get("type") == event_type
                and sample.labels.get("outcome") == "processed"
            ):
                return sample.value
    return 0.0


def test_replicas_share_the_work_and_every_effect_happens_once(
    replicas: tuple[Deployment, dict[str, list[str]]],
) -> None:
    deployment, workers = replicas
    token = deployment.sign_in()

    def book(body: dict[str, str]) -> str:
        response = deployment.post("scheduler", "/api/v1/appointments", token, json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(book, _slots()))
    assert len(set(ids)) == BOOKINGS

    def invoices() -> list[dict]:
        return deployment.get("billing", "/api/v1/invoices", token).json()["items"]

    wait_until(lambda: len(invoices()) == BOOKINGS, timeout=120, message="every invoice")
    numbers = sorted(int(i["number"].split("-")[1]) for i in invoices())
    assert numbers == list(range(1, BOOKINGS + 1))
    assert sorted(line["appointment_id"] for i in invoices() for line in i["lines"]) == sorted(ids)

    def reminders() -> list[dict]:
        return [
            r
            for client in CLIENTS
            for r in deployment.get(
                "notifier",
                "/api/v1/reminders",
                token,
                params={"client_id": demo_id(client)},
            ).json()["items"]
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
