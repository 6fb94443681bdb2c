"""Scheduling rules on plain data: no database, no broker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

ACTIVE_STATUSES = frozenset({"booked", "confirmed", "checked_in"})


def is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return name in _zones()


_ZONES: frozenset[str] | None = None


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end


def session_interval(starts_at: datetime, duration: timedelta) -> Interval:
    return Interval(starts_at, starts_at + duration)


def first_conflict(wanted: Interval, busy: list[Interval]) -> Interval | None:
    return next(
        (slot for slot in sorted(busy, key=lambda s: s.start) if slot.overlaps(wanted)), None
    )
