"""The scheduler's business metrics, read from its /metrics endpoint after real requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.demo import demo_id
from tests.integration.test_scheduler_support import SchedulerSystem, scheduler_only
from tests.support import days_ahead

SESSION = "IPT session (50 min)"


@pytest.fixture
def sched(system_env: dict[str, str]) -> Iterator[SchedulerSystem]:
    with scheduler_only(system_env) as s:
        yield s


def sample(s: SchedulerSystem, name: str, **labels: str) -> float:
    text = s.apps["scheduler"].test_client().get("/metrics").data.decode()
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == name and all(item.labels.get(k) == v for k, v in labels.items()):
                return float(item.value)
    return 0.0


def test_bookings_conflicts_latency_feeds_and_active_appointments(sched: SchedulerSystem) -> None:
    before = {
        "booked": sample(sched, "rapport_bookings_total", outcome="booked", service_type=SESSION),
        "conflict": sample(
            sched, "rapport_bookings_total", outcome="conflict", service_type=SESSION
        ),
        "conflicts": sample(sched, "rapport_booking_conflicts_total"),
        "latency": sample(sched, "rapport_booking_seconds_count"),
        "feed_200": sample(sched, "rapport_feed_requests_total", status="200"),
        "feed_304": sample(sched, "rapport_feed_requests_total", status="304"),
        "feed_404": sample(sched, "rapport_feed_requests_total", status="404"),
    }
    starts_at = days_ahead(6, hour=10)
    body = {
        "client_id": demo_id("client-jordan"),
        "practitioner_id": demo_id("dr-rivera"),
        "service_type_id": demo_id("ipt-session"),
        "starts_at": starts_at.isoformat(),
    }
    assert sched.call("scheduler", "POST", "/api/v1/appointments", json=body).status_code == 201
    clash = body | {"client_id": demo_id("client-priya")}
    assert sched.call("scheduler", "POST", "/api/v1/appointments", json=clash).status_code == 409
    assert (
        sample(sched, "rapport_bookings_total", outcome="booked", service_type=SESSION)
        == before["booked"] + 1
    )
    assert (
        sample(sched, "rapport_bookings_total", outcome="conflict", service_type=SESSION)
        == before["conflict"] + 1
    )
    assert sample(sched, "rapport_booking_conflicts_total") == before["conflicts"] + 1
    assert sample(sched, "rapport_booking_seconds_count") == before["latency"] + 2
    assert sample(sched, "rapport_active_appointments", status="booked") == 1

    url = sched.call("scheduler", "GET", f"/api/v1/clients/{demo_id('client-jordan')}/feed")
    path = url.json["url"].split("://", 1)[1].split("/", 1)[1]
    client = sched.apps["scheduler"].test_client()
    first = client.get(f"/{path}")
    assert first.status_code == 200
    assert (
        client.get(f"/{path}", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    )
    assert client.get("/feeds/client/" + "y" * 43 + ".ics").status_code == 404
    for status in ("200", "304", "404"):
        assert (
            sample(sched, "rapport_feed_requests_total", status=status)
            == before[f"feed_{status}"] + 1
        )
