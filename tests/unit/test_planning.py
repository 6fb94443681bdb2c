"""Reminder planning (services/notifier/planning.py): when each message goes out.

Quiet hours (21:00-08:00 by default) are the client's local wall-clock time; "24 hours before"
is 24 hours of absolute time. Appointment times arrive in UTC, as in the events.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notifier.planning import Planned, QuietHours, Recipient, Rule, plan

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
WARSAW = ZoneInfo("Europe/Warsaw")

SMS_12H_BEFORE = (Rule("reminder", "sms", timedelta(hours=12)),)
SMS_CONFIRMATION = (Rule("confirmation", "sms", None),)
BOTH = frozenset({"sms", "email"})


def ny(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A New York wall-clock time, as the UTC instant the events carry."""
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def wall_clock(instant: datetime, zone: ZoneInfo = NEW_YORK) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def client_in(zone: str = "America/New_York", channels: frozenset[str] = BOTH) -> Recipient:
    return Recipient(time_zone=zone, channels=channels)


# -- quiet hours ---------------------------------------------------------------------------


def test_reminder_due_at_2330_moves_back_to_2059_the_same_evening() -> None:
    # 12 hours before an 11:30 session is 23:30 the evening before.
    planned = plan(ny(2026, 4, 15, 11, 30), client_in(), ny(2026, 4, 10, 12, 0), SMS_12H_BEFORE)

    assert planned == [Planned("reminder", "sms", ny(2026, 4, 14, 20, 59))]


def test_reminder_due_at_0600_moves_back_to_2059_the_previous_evening() -> None:
    # 12 hours before an 18:00 session is 06:00 the same day.
    planned = plan(ny(2026, 4, 15, 18, 0), client_in(), ny(2026, 4, 10, 12, 0), SMS_12H_BEFORE)

    assert planned == [Planned("reminder", "sms", ny(2026, 4, 14, 20, 59))]


@pytest.mark.parametrize(
    ("session", "expected_due"),
    [
        (ny(2026, 4, 15, 9, 0), ny(2026, 4, 14, 20, 59)),  # due 21:00: quiet hours have begun
        (ny(2026, 4, 15, 8, 59), ny(2026, 4, 14, 20, 59)),  # due 20:59: just before them
        (ny(2026, 4, 15, 20, 0), ny(2026, 4, 15, 8, 0)),  # due 08:00: they are over
        (ny(2026, 4, 15, 19, 59), ny(2026, 4, 14, 20, 59)),  # due 07:59: still quiet
    ],
    ids=["due-2100", "due-2059", "due-0800", "due-0759"],
)
def test_quiet_hours_start_at_2100_inclusive_and_end_at_0800_exclusive(
    session: datetime, expected_due: datetime
) -> None:
    planned = plan(session, client_in(), ny(2026, 4, 10, 12, 0), SMS_12H_BEFORE)

    assert [p.due_at for p in planned] == [expected_due]


def test_early_session_gets_its_24h_reminder_the_evening_before_the_day_before() -> None:
    planned = plan(
        ny(2026, 4, 16, 7, 0), client_in(channels=frozenset({"sms"})), ny(2026, 4, 10, 12, 0)
    )

    assert planned == [
        Planned("confirmation", "sms", ny(2026, 4, 10, 12, 0)),
        Planned("reminder", "sms", ny(2026, 4, 14, 20, 59)),
    ]


@pytest.mark.parametrize(
    ("written", "held_until"),
    [
        (ny(2026, 4, 14, 23, 0), ny(2026, 4, 15, 8, 0)),  # late evening: next morning
        (ny(2026, 4, 15, 2, 15), ny(2026, 4, 15, 8, 0)),  # small hours: this morning
        (ny(2026, 4, 15, 7, 59), ny(2026, 4, 15, 8, 0)),
        (ny(2026, 4, 15, 8, 0), ny(2026, 4, 15, 8, 0)),  # quiet hours over: right away
        (ny(2026, 4, 14, 20, 59), ny(2026, 4, 14, 20, 59)),
    ],
    ids=["2300", "0215", "0759", "0800", "2059"],
)
def test_confirmation_written_in_quiet_hours_is_held_until_0800(
    written: datetime, held_until: datetime
) -> None:
    planned = plan(ny(2026, 4, 20, 15, 0), client_in(), written, SMS_CONFIRMATION)

    assert planned == [Planned("confirmation", "sms", held_until)]


def test_custom_quiet_hours_are_honoured() -> None:
    late_night = QuietHours(start=time(22, 0), end=time(7, 0))

    at_2130 = plan(
        ny(2026, 4, 15, 9, 30), client_in(), ny(2026, 4, 10, 12), SMS_12H_BEFORE, late_night
    )
    at_2230 = plan(
        ny(2026, 4, 15, 10, 30), client_in(), ny(2026, 4, 10, 12), SMS_12H_BEFORE, late_night
    )

    assert [p.due_at for p in at_2130] == [ny(2026, 4, 14, 21, 30)]
    assert [p.due_at for p in at_2230] == [ny(2026, 4, 14, 21, 59)]


def test_quiet_hours_window_that_does_not_cross_midnight() -> None:
    siesta = QuietHours(start=time(13, 0), end=time(15, 0))

    assert siesta.contains(time(13, 0))
    assert siesta.contains(time(14, 59))
    assert not siesta.contains(time(15, 0))
    assert not siesta.contains(time(23, 0))
    # 12 hours before a 02:30 session is 14:30 the day before: moved back to 12:59.
    planned = plan(ny(2026, 4, 15, 2, 30), client_in(), ny(2026, 4, 10, 12), SMS_12H_BEFORE, siesta)
    assert [p.due_at for p in planned] == [ny(2026, 4, 14, 12, 59)]


# -- too late, too close --------------------------------------------------------------------


def test_reminder_moved_into_the_past_is_dropped() -> None:
    # Booked at 22:00 for 07:30 the day after tomorrow: the 24h SMS (07:30 tomorrow, quiet)
    # would have to go out at 20:59 tonight, which has passed. The confirmation waits for 08:00.
    planned = plan(
        ny(2026, 4, 15, 7, 30), client_in(channels=frozenset({"sms"})), ny(2026, 4, 13, 22, 0)
    )

    assert planned == [Planned("confirmation", "sms", ny(2026, 4, 14, 8, 0))]


def test_reminders_already_due_when_booking_are_dropped_but_the_confirmation_is_sent() -> None:
    planned = plan(ny(2026, 4, 15, 15, 0), client_in(), ny(2026, 4, 15, 10, 0))

    assert planned == [
        Planned("confirmation", "email", ny(2026, 4, 15, 10, 0)),
        Planned("confirmation", "sms", ny(2026, 4, 15, 10, 0)),
    ]


@pytest.mark.parametrize("session", [ny(2026, 4, 15, 8, 0), ny(2026, 4, 15, 7, 30)])
def test_confirmation_held_past_the_session_start_is_not_planned(session: datetime) -> None:
    # Booked at 23:00 for first thing next morning: 08:00 is not before the session.
    assert plan(session, client_in(), ny(2026, 4, 14, 23, 0)) == []


def test_confirmation_held_to_just_before_the_session_is_planned() -> None:
    planned = plan(ny(2026, 4, 15, 8, 1), client_in(), ny(2026, 4, 14, 23, 0), SMS_CONFIRMATION)

    assert planned == [Planned("confirmation", "sms", ny(2026, 4, 15, 8, 0))]


def test_reminder_at_the_session_start_is_not_planned() -> None:
    at_start = (Rule("reminder", "sms", timedelta(0)),)

    assert plan(ny(2026, 4, 15, 15, 0), client_in(), ny(2026, 4, 10, 12), at_start) == []


def test_no_message_is_ever_due_at_or_after_the_session() -> None:
    now = ny(2026, 4, 14, 23, 0)
    for minutes in range(0, 48 * 60, 7):
        session = now + timedelta(minutes=minutes)
        for planned in plan(session, client_in(), now):
            assert now <= planned.due_at < session, (session, planned)


# -- channels ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        (
            frozenset({"email"}),
            [
                Planned("confirmation", "email", ny(2026, 4, 14, 10, 0)),
                Planned("reminder", "email", ny(2026, 4, 18, 15, 0)),
            ],
        ),
        (
            frozenset({"sms"}),
            [
                Planned("confirmation", "sms", ny(2026, 4, 14, 10, 0)),
                Planned("reminder", "sms", ny(2026, 4, 19, 15, 0)),
            ],
        ),
        (
            BOTH,
            [
                Planned("confirmation", "email", ny(2026, 4, 14, 10, 0)),
                Planned("confirmation", "sms", ny(2026, 4, 14, 10, 0)),
                Planned("reminder", "email", ny(2026, 4, 18, 15, 0)),
                Planned("reminder", "sms", ny(2026, 4, 19, 15, 0)),
            ],
        ),
        (frozenset(), []),
    ],
    ids=["email-only", "sms-only", "both", "none"],
)
def test_only_the_clients_usable_channels_are_planned(
    channels: frozenset[str], expected: list[Planned]
) -> None:
    planned = plan(ny(2026, 4, 20, 15, 0), client_in(channels=channels), ny(2026, 4, 14, 10, 0))

    assert planned == expected


# -- daylight saving time ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("session", "channel", "due_wall_clock"),
    [
        # Clocks spring forward on Sunday 2026-03-08 02:00 (EST -> EDT).
        (ny(2026, 3, 8, 11, 0), "sms", datetime(2026, 3, 7, 10, 0)),
        (ny(2026, 3, 9, 10, 0), "email", datetime(2026, 3, 7, 9, 0)),
        # Clocks fall back on Sunday 2026-11-01 02:00 (EDT -> EST).
        (ny(2026, 11, 1, 11, 0), "sms", datetime(2026, 10, 31, 12, 0)),
        (ny(2026, 11, 2, 10, 0), "email", datetime(2026, 10, 31, 11, 0)),
    ],
    ids=["spring-24h-sms", "spring-48h-email", "fall-24h-sms", "fall-48h-email"],
)
def test_reminder_lead_time_is_absolute_across_a_dst_change(
    session: datetime, channel: str, due_wall_clock: datetime
) -> None:
    planned = plan(session, client_in(channels=frozenset({channel})), ny(2026, 2, 1, 12, 0))

    reminder = next(p for p in planned if p.kind == "reminder")
    lead = {"sms": timedelta(hours=24), "email": timedelta(hours=48)}[channel]
    assert session - reminder.due_at == lead
    assert wall_clock(reminder.due_at) == due_wall_clock


def test_spring_forward_quiet_hours_move_uses_local_wall_clock() -> None:
    # Monday 07:00 EDT session: the 24h SMS (Sunday 07:00 EDT, quiet) goes out Saturday
    # 20:59 EST: 10h01m earlier on the wall clock, 9h01m of absolute time.
    session = ny(2026, 3, 9, 7, 0)

    planned = plan(session, client_in(channels=frozenset({"sms"})), ny(2026, 3, 1, 12, 0))

    reminder = planned[-1]
    assert reminder == Planned("reminder", "sms", utc(2026, 3, 8, 1, 59))
    assert wall_clock(reminder.due_at) == datetime(2026, 3, 7, 20, 59)


def test_fall_back_quiet_hours_move_uses_local_wall_clock() -> None:
    session = ny(2026, 11, 2, 7, 0)

    planned = plan(session, client_in(channels=frozenset({"sms"})), ny(2026, 10, 1, 12, 0))

    reminder = planned[-1]
    assert reminder == Planned("reminder", "sms", utc(2026, 11, 1, 0, 59))
    assert wall_clock(reminder.due_at) == datetime(2026, 10, 31, 20, 59)


@pytest.mark.parametrize(
    ("written", "held_until"),
    [
        # Saturday 23:00 EST -> Sunday 08:00 EDT: 8 hours later, not 9.
        (ny(2026, 3, 7, 23, 0), utc(2026, 3, 8, 12, 0)),
        # Saturday 23:00 EDT -> Sunday 08:00 EST: 10 hours later, not 9.
        (ny(2026, 10, 31, 23, 0), utc(2026, 11, 1, 13, 0)),
    ],
    ids=["spring", "fall"],
)
def test_confirmation_held_overnight_across_a_dst_change_goes_out_at_0800_local(
    written: datetime, held_until: datetime
) -> None:
    planned = plan(written + timedelta(days=5), client_in(), written, SMS_CONFIRMATION)

    assert planned == [Planned("confirmation", "sms", held_until)]
    assert wall_clock(held_until).time() == time(8, 0)


# -- the client's own time zone ------------------------------------------------------------


def test_same_instant_is_quiet_in_one_zone_and_not_in_another() -> None:
    # A telehealth session at 12:30 UTC (07:30 in Chicago, 14:30 in Warsaw), booked at
    # 20:30 UTC two days before (15:30 in Chicago, 22:30 in Warsaw).
    session, now = utc(2026, 5, 21, 12, 30), utc(2026, 5, 19, 20, 30)
    sms = frozenset({"sms"})

    chicago = plan(session, client_in("America/Chicago", sms), now)
    warsaw = plan(session, client_in("Europe/Warsaw", sms), now)

    assert chicago == [
        Planned("confirmation", "sms", now),
        Planned("reminder", "sms", utc(2026, 5, 20, 1, 59)),  # 20:59 CDT the evening before
    ]
    assert warsaw == [
        Planned("confirmation", "sms", utc(2026, 5, 20, 6, 0)),  # 08:00 CEST next morning
        Planned("reminder", "sms", utc(2026, 5, 20, 12, 30)),  # 14:30 CEST, not quiet
    ]
    assert wall_clock(chicago[1].due_at, CHICAGO) == datetime(2026, 5, 19, 20, 59)
    assert wall_clock(warsaw[0].due_at, WARSAW) == datetime(2026, 5, 20, 8, 0)
