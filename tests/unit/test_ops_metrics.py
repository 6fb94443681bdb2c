"""rapport_database_up: a web process reports whether its database answered the scrape-time
outbox read, so RapportDatabaseUnreachable sees PostgreSQL the way the service does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest

from shared.metrics import OutboxBacklogCollector

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def _scrape(collector: OutboxBacklogCollector) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(collector)
    samples = {}
    for line in generate_latest(registry).decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def _unreachable() -> tuple[int, datetime | None]:
    raise OSError("connection refused")


def test_a_database_that_answers_is_up_and_its_backlog_is_reported() -> None:
    collector = OutboxBacklogCollector()
    collector.add("billing", lambda: (3, NOW - timedelta(seconds=42)), lambda: NOW)
    samples = _scrape(collector)
    assert samples['rapport_database_up{service="billing"}'] == 1
    assert samples['rapport_outbox_backlog{service="billing"}'] == 3
    assert samples['rapport_outbox_oldest_age_seconds{service="billing"}'] == 42


def test_a_database_that_fails_is_down_and_the_scrape_still_answers() -> None:
    collector = OutboxBacklogCollector()
    collector.add("billing", _unreachable, lambda: NOW)
    collector.add("scheduler", lambda: (0, None), lambda: NOW)
    samples = _scrape(collector)
    assert samples['rapport_database_up{service="billing"}'] == 0
    assert samples['rapport_database_up{service="scheduler"}'] == 1
    # No made-up backlog for the service whose database did not answer.
    assert 'rapport_outbox_backlog{service="billing"}' not in samples
