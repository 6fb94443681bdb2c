"""Waiting-list rules on plain data: whether a freed slot suits a waiting client (their weekly
windows and dates, read on the client's own clock) and the practitioner (working hours, time
off, buffers) and leaves the client's other sessions clear."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.scheduler.domain import Interval


@dataclass(frozen=True)
class Window:
    """A weekly time range the client can come, in the client's zone (minutes after midnight;
    ``end_minute`` may be 1440 for midnight at the end of the day)."""

    weekday: int  # 0 = Monday
    start_minute: int
    end_minute: int


@dataclass(frozen=True)
class Wish:
    """What a waiting client asked for, as the fitting rules need it."""

    windows: tuple[Window, ...]
    earliest: date
    latest: date
    time_zone: str


def suits_client(slot: Interval, wish: Wish) -> bool:
    """The slot lies inside one of the client's weekly windows on their own wall clock (so a
    9:00-12:00 window stays 9:00-12:00 there across DST), between the earliest and latest
    dates (inclusive, the client's dates)."""
    zone = ZoneInfo(wish.time_zone)
    start, end = slot.start.astimezone(zone), slot.end.astimezone(zone)
    if not wish.earliest <= start.date() <= wish.latest:
        return False
    first = start.hour * 60 + start.minute
    last = (end.date() - start.date()).days * 1440 + end.hour * 60 + end.minute
    return any(
        w.weekday == start.weekday() and w.start_minute <= first and last <= w.end_minute
        for w in wish.windows
    )


def merged(intervals: list[Interval]) -> list[Interval]:
    """Touching or overlapping intervals joined (working hours 9-12 and 12-17 are 9-17)."""
    out: list[Interval] = []
    for period in sorted(intervals, key=lambda i: i.start):
        if out and period.start <= out[-1].end:
            out[-1] = Interval(out[-1].start, max(out[-1].end, period.end))
        else:
            out.append(period)
    return out


def suits_practitioner(
    slot: Interval,
    *,
    working: list[Interval],
    blocked: list[Interval],
    busy: list[Interval],
    buffer: timedelta,
) -> bool:
    """Inside working time (weekly hours or extra hours), outside time off, and ``buffer`` away
    from the practitioner's other sessions."""
    if not any(w.start <= slot.start and slot.end <= w.end for w in merged(working)):
        return False
    if any(slot.overlaps(b) for b in blocked):
        return False
    return not any(slot.overlaps(Interval(b.start - buffer, b.end + buffer)) for b in busy)


def clear_of(slot: Interval, client_busy: list[Interval]) -> bool:
    return not any(slot.overlaps(b) for b in client_busy)


def slot_for(opening: Interval, duration: timedelta) -> Interval | None:
    """The session a freed span offers: from its start, if the service type's length fits."""
    slot = Interval(opening.start, opening.start + duration)
    return slot if slot.end <= opening.end else None


def offers_to_make(mode: str, batch: int, open_offers: int) -> int:
    """How many new offers a freed slot gets now: one at a time (the next only when the last
    expired or was declined), or the next ``batch`` at once when none is open."""
    if open_offers:
        return 0
    return 1 if mode == "one_at_a_time" else batch


def minutes_of(at: str) -> int:
    """ "09:30" -> 570; "24:00" -> 1440."""
    hours, minutes = at.split(":")
    return int(hours) * 60 + int(minutes)


def clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def expires(now: datetime, offer_minutes: int, starts_at: datetime) -> datetime:
    """An offer lasts the practice's offer time, and never past the session's start."""
    return min(now + timedelta(minutes=offer_minutes), starts_at)
