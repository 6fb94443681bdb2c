"""Prometheus metrics of the shared mechanisms (every name starts with ``rapport_``).

Services define their business metrics next to their own code. Under gunicorn with several
workers, set PROMETHEUS_MULTIPROC_DIR and /metrics aggregates every process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

EVENTS_CONSUMED = Counter(
    "rapport_events_consumed_total",
    "Events taken off the service's queue, by outcome",
    ["service", "type", "outcome"],
)
EVENT_HANDLER_SECONDS = Histogram(
    "rapport_event_handler_seconds",
    "Time spent applying one handler to one event",
    ["service", "type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_PUBLISHED = Counter(
    "rapport_events_published_total", "Outbox events confirmed by the broker", ["service", "type"]
)
PUBLISH_FAILURES = Counter(
    "rapport_relay_publish_failures_total",
    "Relay publish attempts the broker did not confirm",
    ["service"],
)
HTTP_REQUESTS = Counter(
    "rapport_http_requests_total", "HTTP requests served", ["service", "method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "rapport_http_request_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

BacklogSource = Callable[[], tuple[int, datetime | None]]
Clock = Callable[[], datetime]


class OutboxBacklogCollector(Collector):
    """Reads each service's outbox at scrape time, so any process (web or worker) reports the
    true backlog without sharing state with the relay. Whether that read succeeded is
    rapport_database_up: PostgreSQL reachability as the service itself sees it (its URL, its
    credentials, its network path), which is what the RapportDatabaseUnreachable alert needs."""

    def __init__(self) -> None:
        self._sources: dict[str, tuple[BacklogSource, Clock]] = {}
        self._lock = threading.Lock()

    def add(self, service: str, source: BacklogSource, clock: Clock) -> None:
        with self._lock:
            self._sources[service] = (source, clock)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        backlog = GaugeMetricFamily(
            "rapport_outbox_backlog", "Events committed but not yet published", labels=["service"]
        )
        age = GaugeMetricFamily(
            "rapport_outbox_oldest_age_seconds",
            "Age of the oldest unpublished event",
            labels=["service"],
        )
        database_up = GaugeMetricFamily(
            "rapport_database_up",
            "1 if the service's database answered the scrape-time outbox read, else 0",
            labels=["service"],
        )
        with self._lock:
            sources = dict(self._sources)
        for service, (source, clock) in sorted(sources.items()):
            try:
                count, oldest = source()
            except Exception:  # a database outage must not break the scrape
                database_up.add_metric([service], 0)
                continue
            database_up.add_metric([service], 1)
            backlog.add_metric([service], count)
            age.add_metric([service], (clock() - oldest).total_seconds() if oldest else 0.0)
        yield backlog
        yield age
        yield database_up


OUTBOX_BACKLOG = OutboxBacklogCollector()
REGISTRY.register(OUTBOX_BACKLOG)

# Collectors that read state at scrape time (like the outbox backlog), which a service adds
# with ``register_scrape_collector``; they are exposed in multiprocess mode too.
SCRAPE_COLLECTORS: list[Collector] = []


def register_scrape_collector(collector: Collector) -> None:
    SCRAPE_COLLECTORS.append(collector)
    REGISTRY.register(collector)


def render_latest() -> tuple[bytes, str]:
    """The exposition of this process, or of every gunicorn worker in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(OUTBOX_BACKLOG)
        for collector in SCRAPE_COLLECTORS:
            registry.register(collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
