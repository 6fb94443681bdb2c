"""Check-in rules on plain data: when the next check-in is due in the client's zone (a wall-clock
time that stays put across DST changes, before quiet hours there), what number a reply gives,
and whether a reply calls for the safety net."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.notifier.planning import QuietHours, before_quiet

LOOK_AHEAD_DAYS = 400
# A reply answers the latest check-in sent to its number within this long.
ANSWER_WINDOW = timedelta(hours=24)
SCORE = re.compile(r"^\s*(\d{1,2})(?:\s*/\s*10)?(?!\d|[.,/]\d)")


@dataclass(frozen=True)
class Schedule:
    kind: str  # daily, weekdays, after_session
    local_time: time
    weekdays: frozenset[int] = frozenset()
    days_after: int | None = None
    until: str = "date"  # date, upcoming_sessions
    until_date: date | None = None


def wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime:
    """``at`` on ``day`` in ``zone`` as UTC; a time the spring gap skips is read as the hour
    after (02:30 becomes 03:30), as the clocks on the wall show it."""
    # zoneinfo reads a skipped time (fold=0) with the offset before the change: the hour after.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _candidate_days(
    schedule: Schedule, first: date, sessions: Iterable[datetime], zone: ZoneInfo
) -> Iterator[date]:
    if schedule.kind == "after_session":
        offset = timedelta(days=schedule.days_after or 0)
        yield from sorted(d for d in {s.astimezone(zone).date() + offset for s in sessions})
        return
    for i in range(LOOK_AHEAD_DAYS):
        day = first + timedelta(days=i)
        if schedule.kind == "daily" or day.weekday() in schedule.weekdays:
            yield day


def next_due(
    schedule: Schedule,
    after: datetime,
    time_zone: str,
    quiet: QuietHours | None,
    sessions: list[datetime],
) -> datetime | None:
    """The first check-in strictly after ``after``; None when the enrolment has run out.
    ``sessions``: the starts of the client's sessions that are still on (not cancelled)."""
    zone = ZoneInfo(time_zone)
    first = after.astimezone(zone).date() - timedelta(days=1)
    for day in _candidate_days(schedule, first, sessions, zone):
        if schedule.until == "date" and schedule.until_date and day > schedule.until_date:
            return None
        due = before_quiet(wall_clock(day, schedule.local_time, zone), zone, quiet)
        if due <= after:
            continue
        if schedule.until == "upcoming_sessions" and not any(s > due for s in sessions):
            return None
        return due
    return None


def score_of(body: str) -> int | None:
    """A number from 0 to 10 at the start of the reply, words after it allowed ("7 — better
    after Tuesday" is 7, "8/10" is 8); None for anything else ("7.5", "11", "fine")."""
    found = SCORE.match(body)
    if found is None:
        return None
    value = int(found.group(1))
    return value if value <= 10 else None


def crisis_words_in(body: str, words: Iterable[str]) -> list[str]:
    """The practice's crisis words or phrases the reply contains (whole words, any case)."""
    text = " ".join(body.lower().split())
    found = []
    for word in words:
        phrase = " ".join(word.lower().split())
        if phrase and re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text):
            found.append(word)
    return found


def needs_safety_net(
    score: int | None, body: str, threshold: int, crisis_words: Iterable[str]
) -> bool:
    low = score is not None and score <= threshold
    return low or bool(crisis_words_in(body, crisis_words))
