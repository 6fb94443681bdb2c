"""The scheduler's business metrics (names start with ``rapport_``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shared.http import Problem
from shared.metrics import register_scrape_collector

BOOKINGS = Counter(
    "rapport_bookings_total",
    "Booking requests (a course counts each session it books), by outcome and service type",
    ["outcome", "service_type"],
)
BOOKING_CONFLICTS = Counter(
    "rapport_booking_conflicts_total",
    "Sessions refused because the practitioner or client was already booked (or off)",
)
BOOKING_SECONDS = Histogram(
    "rapport_booking_seconds",
    "Time to answer a booking request (single session or course)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
FEED_REQUESTS = Counter(
    "rapport_feed_requests_total", "iCal feed requests, by HTTP status", ["status"]
)


class BookingOutcome:
    """What a booking request ended as; filled in by the view as it learns more."""

    def __init__(self) -> None:
        self.service_type = "unknown"
        self.booked = 0
        self.conflicts = 0
        self.replayed = False


@contextmanager
def booking_meter() -> Iterator[BookingOutcome]:
    """Time a booking request and count its outcome: booked, replayed (Idempotency-Key),
    conflict (409), rejected (other 4xx) or error."""
    outcome = BookingOutcome()
    started = time.perf_counter()
    label = "error"
    try:
        yield outcome
        label = "replayed" if outcome.replayed else "booked"
    except Problem as problem:
        label = "conflict" if problem.status == 409 else "rejected"
        if problem.status == 409:
            outcome.conflicts = max(outcome.conflicts, 1)
        raise
    finally:
        BOOKING_SECONDS.observe(time.perf_counter() - started)
        if label == "booked":
            BOOKINGS.labels("booked", outcome.service_type).inc(max(outcome.booked, 1))
        else:
            BOOKINGS.labels(label, outcome.service_type).inc()
        if outcome.conflicts and not outcome.replayed:
            BOOKING_CONFLICTS.inc(outcome.conflicts)


ActiveSource = Callable[[], dict[str, int]]


class ActiveAppointmentsCollector(Collector):
    """Counts the active appointments (booked, confirmed, checked in, not yet ended) in the
    scheduler's database at scrape time, so every process reports the true number."""

    def __init__(self) -> None:
        self._source: ActiveSource | None = None
        self._lock = threading.Lock()

    def use(self, source: ActiveSource) -> None:
        with self._lock:
            self._source = source

    def collect(self) -> Iterable[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "rapport_active_appointments",
            "Appointments booked, confirmed or checked in that have not ended yet",
            labels=["status"],
        )
        with self._lock:
            source = self._source
        if source is not None:
            try:
                counts = source()
            except Exception:  # noqa: S110 - a database outage must not break the scrape
                counts = None
            if counts is not None:
                for status in ("booked", "confirmed", "checked_in"):
                    gauge.add_metric([status], counts.get(status, 0))
        yield gauge


ACTIVE_APPOINTMENTS = ActiveAppointmentsCollector()
register_scrape_collector(ACTIVE_APPOINTMENTS)


def active_counts(db: object, clock: Callable[[], datetime]) -> ActiveSource:
    from sqlalchemy import func, select

    from services.scheduler.domain import ACTIVE_STATUSES
    from services.scheduler.tables import Appointment

    def count() -> dict[str, int]:
        with db.sessions() as session:  # type: ignore[attr-defined]
            rows = session.execute(
                select(Appointment.status, func.count())
                .where(Appointment.status.in_(ACTIVE_STATUSES), Appointment.ends_at > clock())
                .group_by(Appointment.status)
            ).all()
        return {status: int(n) for status, n in rows}

    return count


WAITLIST_SLOTS_OFFERED = Counter(
    "rapport_waitlist_slots_offered_total",
    "Freed slots offered to the waiting list (counted once, at the first offer)",
)
WAITLIST_OFFERS = Counter(
    "rapport_waitlist_offers_total", "Offers of freed slots made to waiting clients"
)
WAITLIST_OFFER_OUTCOMES = Counter(
    "rapport_waitlist_offer_outcomes_total",
    "How offers ended: accepted, taken, expired, withdrawn",
    ["outcome"],
)
WAITLIST_REFILLED = Counter(
    "rapport_waitlist_refilled_total",
    "Freed slots booked from the waiting list, by how the client accepted (sms, link)",
    ["via"],
)
WAITLIST_REFILL_SECONDS = Histogram(
    "rapport_waitlist_refill_seconds",
    "From a slot freeing up to its booking from the waiting list (application clock)",
    buckets=(60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400),
)
