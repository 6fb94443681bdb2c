"""The notifier's business metrics. The due-but-unsent backlog is read from the database at
scrape time, so any process (web or worker) reports the true number."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REMINDERS_PLANNED = Counter(
    "rapport_reminders_planned_total", "Reminders planned", ["channel", "kind"]
)
REMINDERS_CAPPED = Counter(
    "rapport_reminders_capped_total", "Reminder SMS not planned: over the client's cap", ["channel"]
)
REMINDERS_SENT = Counter(
    "rapport_reminders_sent_total", "Reminders handed to the provider", ["channel", "kind"]
)
REMINDERS_FAILED = Counter(
    "rapport_reminders_failed_total", "Reminders that failed, by reason", ["channel", "reason"]
)
IN_DOUBT_SETTLED = Counter(
    "rapport_messages_in_doubt_settled_total",
    "Messages a stopped worker left sending, by outcome (sent, resent, failed, unknown)",
    ["channel", "outcome"],
)
TEMPLATE_FALLBACKS = Counter(
    "rapport_template_fallbacks_total",
    "Messages sent in the default wording because the practice's edited template failed",
    ["channel", "kind"],
)
REMINDER_RETRIES = Counter(
    "rapport_reminder_retries_total", "Transient send failures retried later", ["channel"]
)
MESSAGES_DELIVERED = Counter(
    "rapport_messages_delivered_total", "Messages the carrier reported delivered", ["channel"]
)
MESSAGES_UNDELIVERED = Counter(
    "rapport_messages_undelivered_total",
    "Messages the carrier reported failed or undelivered",
    ["channel", "status"],
)
OPT_OUTS = Counter(
    "rapport_sms_opt_outs_total", "STOP (opted_out=true) and START replies", ["opted_out"]
)
INBOUND = Counter("rapport_inbound_sms_total", "SMS replies received, by intent", ["intent"])
LATENESS = Histogram(
    "rapport_reminder_lateness_seconds",
    "How long after its due time a reminder was handed to the provider",
    ["channel"],
    # Fine where the targets are (seconds) and with no wide gap before the 5-minute alert, so
    # a quantile read from them is near the truth (a 120-300 s gap once read 164 s as 294 s).
    buckets=(0.5, 1, 2, 5, 10, 15, 30, 60, 90, 120, 180, 240, 300, 600, 900, 1800, 3600, 7200),
)

# Check-ins. Response rate = rapport_check_ins_answered_total
#   / rapport_check_ins_sent_total{kind="question"} (over the same window).
CHECK_INS_SENT = Counter(
    "rapport_check_ins_sent_total", "Check-in SMS handed to the provider", ["kind"]
)
CHECK_INS_SKIPPED = Counter(
    "rapport_check_ins_skipped_total", "Check-ins not sent, by reason", ["kind", "reason"]
)
CHECK_INS_FAILED = Counter(
    "rapport_check_ins_failed_total", "Check-in SMS the provider refused", ["kind", "permanent"]
)
CHECK_INS_ANSWERED = Counter(
    "rapport_check_ins_answered_total", "Check-in answers recorded (a score from 0 to 10)"
)
CHECK_IN_URGENT = Counter(
    "rapport_check_in_urgent_items_total",
    "Urgent items raised for a practitioner by the safety net (a low score, or crisis words)",
    ["reason"],
)
CHECK_IN_PAUSES = Counter(
    "rapport_check_in_pauses_total", "PAUSE and RESUME replies from enrolled clients", ["intent"]
)

BacklogSource = Callable[[], Iterable[tuple[str, int, float]]]


class DueBacklogCollector(Collector):
    """rapport_reminders_due_backlog{channel} and the age of the oldest one, per scrape."""

    def __init__(self) -> None:
        self._source: BacklogSource | None = None
        self._lock = threading.Lock()

    def set_source(self, source: BacklogSource) -> None:
        with self._lock:
            self._source = source

    def collect(self) -> Iterable[GaugeMetricFamily]:
        backlog = GaugeMetricFamily(
            "rapport_reminders_due_backlog",
            "Reminders due but not yet sent (planned, or sending)",
            labels=["channel"],
        )
        age = GaugeMetricFamily(
            "rapport_reminders_due_oldest_age_seconds",
            "How long the oldest due-but-unsent reminder has been due",
            labels=["channel"],
        )
        with self._lock:
            source = self._source
        rows: Iterable[tuple[str, int, float]] = ()
        if source is not None:
            try:
                rows = list(source())
            except Exception:  # a database outage must not break the scrape
                source, rows = None, ()
        seen = {channel: (count, oldest) for channel, count, oldest in rows}
        # Only a process that runs the dispatcher reads the backlog; elsewhere a 0 would lie.
        for channel in ("sms", "email") if source is not None else ():
            count, oldest = seen.get(channel, (0, 0.0))
            backlog.add_metric([channel], count)
            age.add_metric([channel], oldest)
        yield backlog
        yield age


DUE_BACKLOG = DueBacklogCollector()
REGISTRY.register(DUE_BACKLOG)
