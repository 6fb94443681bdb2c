"""The scheduler's business metrics (names start with ``rapport_``)."""

from __future__ import annotations

from prometheus_client import Counter

FEED_REQUESTS = Counter(
    "rapport_feed_requests_total", "iCal feed requests, by HTTP status", ["status"]
)
