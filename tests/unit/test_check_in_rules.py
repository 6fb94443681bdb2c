"""Check-in rules on plain data: when the next one is due in the client's zone across DST, what
number a reply gives, and when the safety net is called for."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from services.notifier import check_ins, keywords
from services.notifier.planning import QuietHours

NEW_YORK = ZoneInfo("America/New_York")
DAILY_19 = check_ins.Schedule(kind="daily", local_time=time(19, 0))


def ny(y: int, m: int, d: int, hour: int, minute: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


@pytest.mark.parametrize(
    ("after", "expected_utc"),
    [
        # Spring forward (14 March 2027): 19:00 EST is 00:00Z, 19:00 EDT the next day 23:00Z.
        (ny(2027, 3, 13, 19), datetime(2027, 3, 14, 23, 0, tzinfo=UTC)),
        # Fall back (7 November 2027): 19:00 EDT is 23:00Z, then 19:00 EST is 00:00Z.
        (ny(2027, 11, 6, 19), datetime(2027, 11, 8, 0, 0, tzinfo=UTC)),
        (ny(2027, 3, 14, 1, 59), datetime(2027, 3, 14, 23, 0, tzinfo=UTC)),
    ],
    ids=["spring-forward", "fall-back", "the-morning-of-the-gap"],
)
def test_a_daily_check_in_stays_at_19_00_local_across_dst(
    after: datetime, expected_utc: datetime
) -> None:
    due = check_ins.next_due(DAILY_19, after, "America/New_York", QuietHours(), [])

    assert due == expected_utc
    assert due is not None and due.astimezone(NEW_YORK).time() == time(19, 0)


def test_a_wall_time_in_the_spring_gap_is_read_as_the_hour_after() -> None:
    at = check_ins.wall_clock(date(2027, 3, 14), time(2, 30), NEW_YORK)
    assert at.astimezone(NEW_YORK).time() == time(3, 30)


def test_weekdays_only_on_the_chosen_days() -> None:
    schedule = check_ins.Schedule(kind="weekdays", local_time=time(18, 0), weekdays=frozenset({0}))
    due = check_ins.next_due(schedule, ny(2027, 3, 10, 12), "America/New_York", None, [])
    assert due == ny(2027, 3, 15, 18)  # the Monday after that Wednesday


def test_a_time_in_quiet_hours_goes_just_before_they_begin() -> None:
    schedule = check_ins.Schedule(kind="daily", local_time=time(22, 0))
    due = check_ins.next_due(schedule, ny(2027, 5, 3, 12), "America/New_York", QuietHours(), [])
    assert due == ny(2027, 5, 3, 20, 59)


def test_until_a_date_ends_after_that_day() -> None:
    schedule = check_ins.Schedule(
        kind="daily", local_time=time(19, 0), until="date", until_date=date(2027, 5, 4)
    )
    zone = "America/New_York"
    assert check_ins.next_due(schedule, ny(2027, 5, 4, 12), zone, None, []) == ny(2027, 5, 4, 19)
    assert check_ins.next_due(schedule, ny(2027, 5, 4, 19), zone, None, []) is None


def test_days_after_each_session_and_only_while_sessions_are_upcoming() -> None:
    sessions = [ny(2027, 5, 3, 10), ny(2027, 5, 10, 10)]
    after_session = check_ins.Schedule(
        kind="after_session", local_time=time(19, 0), days_after=2, until="date"
    )
    zone = "America/New_York"
    assert check_ins.next_due(after_session, ny(2027, 5, 3, 12), zone, None, sessions) == ny(
        2027, 5, 5, 19
    )
    assert check_ins.next_due(after_session, ny(2027, 5, 5, 19), zone, None, sessions) == ny(
        2027, 5, 12, 19
    )
    while_upcoming = check_ins.Schedule(
        kind="daily", local_time=time(19, 0), until="upcoming_sessions"
    )
    assert check_ins.next_due(while_upcoming, ny(2027, 5, 9, 12), zone, None, sessions) == ny(
        2027, 5, 9, 19
    )
    assert check_ins.next_due(while_upcoming, ny(2027, 5, 9, 19), zone, None, sessions) is None


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("7 — better after Tuesday", 7),
        ("7", 7),
        (" 10 ", 10),
        ("0", 0),
        ("8/10 good week", 8),
        ("3, rough day", 3),
        ("11", None),
        ("7.5", None),
        ("fine thanks", None),
        ("about 6", None),
    ],
    ids=[
        "words-after",
        "bare",
        "ten",
        "zero",
        "out-of-ten",
        "comma",
        "eleven",
        "decimal",
        "words",
        "words-first",
    ],
)
def test_a_reply_gives_a_score_from_0_to_10(reply: str, score: int | None) -> None:
    assert check_ins.score_of(reply) == score


def test_the_safety_net_on_a_low_score_or_a_crisis_word() -> None:
    words = ["hopeless", "end it"]
    assert check_ins.needs_safety_net(2, "2", 3, words)
    assert check_ins.needs_safety_net(3, "3", 3, words)
    assert not check_ins.needs_safety_net(4, "4", 3, words)
    assert check_ins.needs_safety_net(6, "6 but I want to END  it", 3, words)
    assert check_ins.needs_safety_net(None, "feeling Hopeless.", 3, words)
    assert not check_ins.needs_safety_net(None, "hopelessly behind on emails", 3, words)


@pytest.mark.parametrize(
    ("reply", "intent"),
    [("PAUSE", "pause"), ("pause.", "pause"), ("Resume", "resume"), ("START", "opt_in")],
    ids=["pause", "pause-lower", "resume", "start"],
)
def test_pause_and_resume_are_keywords_of_their_own(reply: str, intent: str) -> None:
    assert keywords.intent_of(reply) == intent
