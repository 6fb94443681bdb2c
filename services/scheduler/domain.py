"""Scheduling rules on plain data: no database, no broker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


# -- the appointment lifecycle ---------------------------------------------------------------

# action -> (statuses it may start from, the status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "confirm": (frozenset({"booked"}), "confirmed"),
    "check_in": (frozenset({"booked", "confirmed"}), "checked_in"),
    "complete": (frozenset({"checked_in"}), "completed"),
    "no_show": (frozenset({"booked", "confirmed"}), "no_show"),
    "cancel": (frozenset({"booked", "confirmed"}), "cancelled"),
    "reschedule": (frozenset({"booked", "confirmed"}), "booked"),
}

_STATUS_WORDS = {
    "booked": "booked",
    "confirmed": "confirmed",
    "checked_in": "checked in",
    "completed": "completed",
    "no_show": "marked as a no-show",
    "cancelled": "cancelled",
}
_ACTION_WORDS = {
    "confirm": "confirmed",
    "check_in": "checked in",
    "complete": "completed",
    "no_show": "marked as a no-show",
    "cancel": "cancelled",
    "reschedule": "rescheduled",
}


class TransitionRefused(Exception):
    """An action that the appointment's status does not allow; the message says why."""


@dataclass(frozen=True)
class DeskRules:
    """The practice's clock for the desk: its zone (the times a refusal names) and how long
    before a session check-in opens (never before the session's own day there)."""

    time_zone: str = "UTC"
    check_in_opens: timedelta = timedelta(hours=1)


def local_when(instant: datetime, zone: str) -> str:
    """ "2:00 PM EST on Tuesday, January 19, 2027" on the practice's wall clock."""
    local = instant.astimezone(ZoneInfo(zone))
    hour = local.strftime("%I").lstrip("0")
    return f"{hour}:{local:%M %p} {local.tzname()} on {local:%A, %B} {local.day}, {local.year}"


def check_in_opens_at(starts_at: datetime, rules: DeskRules) -> datetime:
    zone = ZoneInfo(rules.time_zone)
    day_begins = datetime.combine(starts_at.astimezone(zone).date(), datetime.min.time(), zone)
    return max(starts_at - rules.check_in_opens, day_begins.astimezone(UTC))


def next_status(
    action: str,
    status: str,
    *,
    starts_at: datetime,
    now: datetime,
    rules: DeskRules = DeskRules(),
) -> str:
    allowed, target = TRANSITIONS[action]
    if status not in allowed:
        hint = ""
        if action == "complete" and status in {"booked", "confirmed"}:
            hint = " Check the client in first."
        raise TransitionRefused(
            f"This session is {_STATUS_WORDS.get(status, status)}, so it cannot be "
            f"{_ACTION_WORDS[action]}.{hint}"
        )
    if action in {"no_show", "complete"} and now < starts_at:
        raise TransitionRefused(
            f"This session starts at {local_when(starts_at, rules.time_zone)}; it can only be "
            f"{_ACTION_WORDS[action]} once it has started."
        )
    if action == "check_in" and now < (opens := check_in_opens_at(starts_at, rules)):
        raise TransitionRefused(
            f"Check-in for this session opens at {local_when(opens, rules.time_zone)}."
        )
    if action in {"reschedule", "cancel", "confirm"} and starts_at <= now:
        raise TransitionRefused(
            f"This session has already started, so it cannot be {_ACTION_WORDS[action]}; "
            "check the client in or mark a no-show instead."
        )
    return target


def is_late_cancellation(starts_at: datetime, now: datetime, window: timedelta) -> bool:
    """Inside the practice's cancellation window (e.g. less than 24 hours before the start)."""
    return starts_at - now < window


# -- availability ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WeeklyPeriod:
    weekday: int  # 0 = Monday, in the practitioner's zone
    start_minute: int
    end_minute: int


def local_working_intervals(
    hours: list[WeeklyPeriod], zone: str, start: datetime, end: datetime
) -> list[Interval]:
    """The weekly working periods between ``start`` and ``end`` as UTC-aware intervals; each
    period is anchored to wall-clock time in ``zone`` so it stays put across DST changes."""
    tz = ZoneInfo(zone)
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    out: list[Interval] = []
    while day <= last:
        for period in hours:
            if period.weekday != day.weekday():
                continue
            midnight = datetime(day.year, day.month, day.day)
            a = wall_to_utc(midnight + timedelta(minutes=period.start_minute), tz)
            b = wall_to_utc(midnight + timedelta(minutes=period.end_minute), tz)
            if b > start and a < end:
                out.append(Interval(max(a, start), min(b, end)))
        day += timedelta(days=1)
    return out


def wall_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """A naive wall-clock time in ``tz`` as a UTC instant (a time skipped by a DST change moves
    forward by the gap, as a calendar does)."""
    aware = wall.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).astimezone(UTC)


def free_slots(
    *,
    working: list[Interval],
    extra: list[Interval],
    blocked: list[Interval],
    practitioner_busy: list[Interval],
    client_busy: list[Interval],
    duration: timedelta,
    buffer: timedelta,
    not_before: datetime,
    step: timedelta = timedelta(minutes=15),
) -> list[Interval]:
    """Start times (every ``step`` from each working period's start) where a session of
    ``duration`` fits inside working time, outside time off, ``buffer`` away from the
    practitioner's other sessions and clear of the client's."""
    busy = [Interval(b.start - buffer, b.end + buffer) for b in practitioner_busy]
    busy += list(client_busy) + list(blocked)
    slots: list[Interval] = []
    seen: set[datetime] = set()
    for period in sorted(working + extra, key=lambda i: i.start):
        at = period.start
        while at + duration <= period.end:
            slot = Interval(at, at + duration)
            if at >= not_before and at not in seen and not any(slot.overlaps(b) for b in busy):
                slots.append(slot)
                seen.add(at)
            at += step
    slots.sort(key=lambda s: s.start)
    return slots


# -- courses ---------------------------------------------------------------------------------


def course_starts(first: datetime, sessions: int, every_weeks: int, zone: str) -> list[datetime]:
    """UTC start instants of a course: the first start's wall-clock time in ``zone`` repeated
    every ``every_weeks`` weeks, so a 15:00 session stays at 15:00 across a DST change."""
    tz = ZoneInfo(zone)
    wall = first.astimezone(tz).replace(tzinfo=None)
    return [wall_to_utc(wall + timedelta(weeks=every_weeks * i), tz) for i in range(sessions)]


def shift_wall_clock(
    old_start: datetime, moved_from: datetime, moved_to: datetime, zone: str
) -> datetime:
    """Move ``old_start`` by the same wall-clock change (days and time of day in ``zone``) that
    took one session from ``moved_from`` to ``moved_to`` (rescheduling the rest of a course)."""
    tz = ZoneInfo(zone)
    delta = moved_to.astimezone(tz).replace(tzinfo=None) - moved_from.astimezone(tz).replace(
        tzinfo=None
    )
    return wall_to_utc(old_start.astimezone(tz).replace(tzinfo=None) + delta, tz)


def nearest(slots: list[Interval], wanted: datetime, count: int = 3) -> list[Interval]:
    return sorted(slots, key=lambda s: (abs((s.start - wanted).total_seconds()), s.start))[:count]
