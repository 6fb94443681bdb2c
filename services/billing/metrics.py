"""Billing's business metrics: invoices by state and outstanding balances read from the database
at scrape time, and counters of money invoiced, collected, refunded and waived."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from services.billing.invoicing import INVOICE_STATES, OPEN_STATES
from shared.metrics import register_scrape_collector

INVOICED = Counter(
    "rapport_billing_invoiced_minor_total",
    "Charges put on issued invoices, in minor units",
    ["currency"],
)
COLLECTED = Counter(
    "rapport_billing_collected_minor_total",
    "Payments recorded, in minor units (refunds are counted apart)",
    ["currency"],
)
REFUNDED = Counter(
    "rapport_billing_refunded_minor_total", "Refunds recorded, in minor units", ["currency"]
)
FEES_WAIVED = Counter(
    "rapport_billing_fees_waived_total", "Late-cancellation and no-show fees waived", ["kind"]
)
FEES_WAIVED_MINOR = Counter(
    "rapport_billing_fees_waived_minor_total",
    "Late-cancellation and no-show fees waived, in minor units",
    ["currency"],
)


class BillingStateCollector(Collector):
    """Invoices by state and the outstanding balance by currency, read from billing's database
    whenever Prometheus scrapes (so any process reports the truth)."""

    def __init__(self) -> None:
        self._sessions: Callable[[], Any] | None = None
        self._lock = threading.Lock()

    def watch(self, sessions: Callable[[], Any]) -> None:
        with self._lock:
            self._sessions = sessions

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from services.billing.tables import Invoice

        by_state = GaugeMetricFamily(
            "rapport_billing_invoices", "Invoices by state", labels=["state"]
        )
        outstanding = GaugeMetricFamily(
            "rapport_billing_outstanding_minor",
            "Still owed on issued and partly paid invoices, in minor units",
            labels=["currency"],
        )
        with self._lock:
            sessions = self._sessions
        if sessions is not None:
            try:
                with sessions() as session:
                    counts = dict(
                        session.execute(
                            select(Invoice.status, func.count()).group_by(Invoice.status)
                        ).all()
                    )
                    owed = session.execute(
                        select(Invoice.currency, func.sum(Invoice.total_minor - Invoice.paid_minor))
                        .where(Invoice.status.in_(OPEN_STATES))
                        .group_by(Invoice.currency)
                    ).all()
            except Exception:  # noqa: S110 - a database outage must not break the scrape
                pass
            else:
                for state in INVOICE_STATES:
                    by_state.add_metric([state], counts.get(state, 0))
                for currency, amount in owed:
                    outstanding.add_metric([currency], int(amount or 0))
        yield by_state
        yield outstanding


STATE = BillingStateCollector()
register_scrape_collector(STATE)  # also exposed by gunicorn's multiprocess /metrics
