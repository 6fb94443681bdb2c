"""When a charge is invoiced: the practice's invoice mode and the billing period a session
falls in (a day or a calendar month of the practice), on plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

InvoiceMode = Literal["at_booking", "after_session", "monthly"]
INVOICE_MODES: tuple[InvoiceMode, ...] = ("at_booking", "after_session", "monthly")
DEFAULT_MODE: InvoiceMode = "after_session"


@dataclass(frozen=True)
class Period:
    """One client's invoice for a day (``2026-12-03``) or a month (``2026-12``) of the practice,
    issued at the first instant after the period ends in the practice's zone."""

    key: str
    issue_after: datetime


def _midnight(day: date, zone: str) -> datetime:
    return datetime.combine(day, time.min, ZoneInfo(zone)).astimezone(UTC)


def period_of(mode: InvoiceMode, day: date, zone: str) -> Period:
    if mode == "monthly":
        first_of_next = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        return Period(f"{day.year:04d}-{day.month:02d}", _midnight(first_of_next, zone))
    return Period(day.isoformat(), _midnight(day + timedelta(days=1), zone))


def practice_day(instant: datetime, zone: str) -> date:
    return instant.astimezone(ZoneInfo(zone)).date()
