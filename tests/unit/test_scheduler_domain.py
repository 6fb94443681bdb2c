"""The scheduler's rules on plain data: lifecycle transitions, late cancellation, working hours
and free slots, and courses at a fixed wall-clock time across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.scheduler import domain
from services.scheduler.domain import Interval, WeeklyPeriod

NY = ZoneInfo("America/New_York")
T0 = datetime(2030, 6, 3, 12, 0, tzinfo=UTC)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("action", "status", "expected"),
    [
        ("confirm", "booked", "confirmed"),
        ("check_in", "booked", "checked_in"),
        ("check_in", "confirmed", "checked_in"),
        ("complete", "checked_in", "completed"),
        ("cancel", "confirmed", "cancelled"),
        ("reschedule", "confirmed", "booked"),
    ],
)
def test_allowed_transitions(action: str, status: str, expected: str) -> None:
    # Check-in opens shortly before the start, completing needs it begun; the rest happen ahead.
    starts_at = {
        "check_in": T0 + timedelta(minutes=10),
        "complete": T0 - timedelta(minutes=30),
    }.get(action, T0 + timedelta(days=1))
    assert domain.next_status(action, status, starts_at=starts_at, now=T0) == expected


@pytest.mark.parametrize(
    ("action", "status", "words"),
    [
        ("complete", "booked", "Check the client in first"),
        ("cancel", "completed", "is completed, so it cannot be cancelled"),
        ("confirm", "cancelled", "is cancelled"),
        ("check_in", "no_show", "marked as a no-show"),
        ("reschedule", "checked_in", "checked in"),
    ],
)
def test_refused_transitions_say_why(action: str, status: str, words: str) -> None:
    with pytest.raises(domain.TransitionRefused, match=words):
        domain.next_status(action, status, starts_at=T0 + timedelta(days=1), now=T0)


def test_check_in_opens_on_the_sessions_day_a_set_time_before_and_says_when() -> None:
    rules = domain.DeskRules("America/New_York", timedelta(minutes=60))
    starts_at = ny(2030, 6, 11, 15, 0)  # Tuesday 3 PM in New York
    for now in (starts_at - timedelta(days=7), starts_at - timedelta(minutes=61)):
        with pytest.raises(
            domain.TransitionRefused,
            match="Check-in for this session opens at 2:00 PM EDT on Tuesday, June 11, 2030",
        ):
            domain.next_status("check_in", "booked", starts_at=starts_at, now=now, rules=rules)
    opens = starts_at - timedelta(minutes=60)
    assert domain.next_status("check_in", "booked", starts_at=starts_at, now=opens, rules=rules)
    # A long window still opens no earlier than midnight of the session's day, there.
    early = domain.DeskRules("America/New_York", timedelta(hours=12))
    morning = ny(2030, 6, 11, 8, 0)
    with pytest.raises(domain.TransitionRefused, match="12:00 AM EDT on Tuesday, June 11"):
        domain.next_status("check_in", "booked", starts_at=morning, now=ny(2030, 6, 10, 23, 59),
                           rules=early)  # fmt: skip
    assert domain.next_status(
        "check_in", "booked", starts_at=morning, now=ny(2030, 6, 11, 0, 0), rules=early
    )


def test_complete_and_no_show_need_the_session_to_have_started() -> None:
    rules = domain.DeskRules("America/New_York")
    starts_at = ny(2030, 6, 11, 15, 0)
    for action, status in (("complete", "checked_in"), ("no_show", "booked")):
        with pytest.raises(
            domain.TransitionRefused, match="starts at 3:00 PM EDT on Tuesday, June 11, 2030"
        ):
            domain.next_status(
                action,
                status,
                starts_at=starts_at,
                now=starts_at - timedelta(minutes=1),
                rules=rules,
            )
        assert domain.next_status(action, status, starts_at=starts_at, now=starts_at, rules=rules)


def test_time_rules_of_transitions() -> None:
    with pytest.raises(domain.TransitionRefused, match="once it has started"):
        domain.next_status("no_show", "booked", starts_at=T0 + timedelta(minutes=1), now=T0)
    assert domain.next_status("no_show", "booked", starts_at=T0, now=T0) == "no_show"
    for action in ("cancel", "reschedule", "confirm"):
        with pytest.raises(domain.TransitionRefused, match="already started"):
            domain.next_status(action, "booked", starts_at=T0, now=T0)


def test_late_cancellation_is_inside_the_window() -> None:
    window = timedelta(hours=24)
    assert domain.is_late_cancellation(T0 + timedelta(hours=23, minutes=59), T0, window)
    assert not domain.is_late_cancellation(T0 + timedelta(hours=24), T0, window)


def test_working_hours_follow_wall_clock_time_across_dst() -> None:
    # Mondays 09:00-17:00 New York: 13:00 UTC in summer, 14:00 UTC in winter.
    hours = [WeeklyPeriod(0, 9 * 60, 17 * 60)]
    start, end = datetime(2030, 10, 27, tzinfo=UTC), datetime(2030, 11, 12, tzinfo=UTC)
    got = domain.local_working_intervals(hours, "America/New_York", start, end)
    assert got == [
        Interval(ny(2030, 10, 28, 9), ny(2030, 10, 28, 17)),
        Interval(ny(2030, 11, 4, 9), ny(2030, 11, 4, 17)),
        Interval(ny(2030, 11, 11, 9), ny(2030, 11, 11, 17)),
    ]
    assert got[0].start.hour == 13 and got[1].start.hour == 14


def test_free_slots_keep_the_buffer_and_avoid_the_client_and_time_off() -> None:
    day = Interval(ny(2030, 6, 3, 9), ny(2030, 6, 3, 12))
    slots = domain.free_slots(
        working=[day],
        extra=[],
        blocked=[Interval(ny(2030, 6, 3, 11, 30), ny(2030, 6, 3, 12))],
        practitioner_busy=[Interval(ny(2030, 6, 3, 10), ny(2030, 6, 3, 10, 30))],
        client_busy=[Interval(ny(2030, 6, 3, 9), ny(2030, 6, 3, 9, 15))],
        duration=timedelta(minutes=30),
        buffer=timedelta(minutes=15),
        not_before=T0,
    )
    starts = [s.start.astimezone(NY).strftime("%H:%M") for s in slots]
    # 09:00 clashes with the client; 09:30 would end at the buffer before 10:00 (09:45);
    # 10:45 is the first start after 10:30 + 15 minutes; 11:30 is time off.
    assert starts == ["09:15", "10:45", "11:00"]


def test_free_slots_are_never_in_the_past() -> None:
    day = Interval(ny(2030, 6, 3, 9), ny(2030, 6, 3, 11))
    slots = domain.free_slots(
        working=[day],
        extra=[],
        blocked=[],
        practitioner_busy=[],
        client_busy=[],
        duration=timedelta(minutes=60),
        buffer=timedelta(0),
        not_before=ny(2030, 6, 3, 9, 20),
    )
    assert [s.start for s in slots] == [
        ny(2030, 6, 3, 9, 30),
        ny(2030, 6, 3, 9, 45),
        ny(2030, 6, 3, 10),
    ]


def test_a_weekly_course_keeps_its_wall_clock_time_across_the_autumn_change() -> None:
    starts = domain.course_starts(ny(2030, 10, 22, 15), 3, 1, "America/New_York")
    assert [s.astimezone(NY).strftime("%Y-%m-%d %H:%M") for s in starts] == [
        "2030-10-22 15:00",
        "2030-10-29 15:00",
        "2030-11-05 15:00",
    ]
    assert [s.hour for s in starts] == [19, 19, 20]  # UTC: EDT, EDT, then EST


def test_a_fortnightly_course_across_the_spring_change() -> None:
    starts = domain.course_starts(ny(2031, 3, 3, 8, 30), 3, 2, "America/New_York")
    assert [s.astimezone(NY).strftime("%m-%d %H:%M") for s in starts] == [
        "03-03 08:30",
        "03-17 08:30",
        "03-31 08:30",
    ]
    assert starts[1] - starts[0] == timedelta(weeks=2, hours=-1)


def test_a_wall_time_skipped_by_dst_moves_forward_by_the_gap() -> None:
    skipped = datetime(2031, 3, 9, 2, 30)  # does not exist in New York
    assert domain.wall_to_utc(skipped, NY).astimezone(NY).strftime("%H:%M") == "03:30"


def test_shifting_the_rest_of_a_course_keeps_the_new_wall_clock_time() -> None:
    # Session two moves from Tuesday 15:00 to Wednesday 16:00; a later session, after the DST
    # change, moves by the same day and hour in wall-clock terms.
    moved = domain.shift_wall_clock(
        ny(2030, 11, 5, 15), ny(2030, 10, 29, 15), ny(2030, 10, 30, 16), "America/New_York"
    )
    assert moved.astimezone(NY).strftime("%Y-%m-%d %H:%M") == "2030-11-06 16:00"


def test_nearest_alternatives_are_ordered_by_distance() -> None:
    wanted = ny(2030, 6, 3, 12)
    slots = [Interval(ny(2030, 6, 3, h), ny(2030, 6, 3, h, 50)) for h in (8, 10, 13, 17)]
    assert [s.start for s in domain.nearest(slots, wanted, 2)] == [
        ny(2030, 6, 3, 13),
        ny(2030, 6, 3, 10),
    ]
