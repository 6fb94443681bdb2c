"""Whether a freed slot suits a waiting client and the practitioner: the client's weekly windows
read on the client's own clock (across DST changes), their dates, the practitioner's hours,
time off and buffers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.scheduler import waitlist
from services.scheduler.domain import Interval

NEW_YORK = ZoneInfo("America/New_York")
MONDAY_MORNINGS = (waitlist.Window(0, 9 * 60, 12 * 60),)


def at(day: date, hour: int, minute: int = 0, zone: ZoneInfo = NEW_YORK) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)


def session(start: datetime, minutes: int = 50) -> Interval:
    return Interval(start, start + timedelta(minutes=minutes))


def wish(
    windows: tuple[waitlist.Window, ...] = MONDAY_MORNINGS,
    earliest: date = date(2026, 1, 1),
    latest: date = date(2026, 12, 31),
    zone: str = "America/New_York",
) -> waitlist.Wish:
    return waitlist.Wish(windows, earliest, latest, zone)


@pytest.mark.parametrize(
    ("start", "fits"),
    [
        # 14:00 UTC is 9:00 EST in January but 10:00 EDT in July: both inside 9-12 there.
        (datetime(2026, 1, 12, 14, 0, tzinfo=UTC), True),
        (datetime(2026, 7, 13, 14, 0, tzinfo=UTC), True),
        # 13:00 UTC is 9:00 EDT in July (fits) but 8:00 EST in January (before the window).
        (datetime(2026, 7, 13, 13, 0, tzinfo=UTC), True),
        (datetime(2026, 1, 12, 13, 0, tzinfo=UTC), False),
        # 16:10 UTC is 11:10 EST in January, so the 50 minutes end at 12:00: just fits; in
        # July the same instant is 12:10 EDT, outside.
        (datetime(2026, 1, 12, 16, 10, tzinfo=UTC), True),
        (datetime(2026, 7, 13, 16, 10, tzinfo=UTC), False),
    ],
    ids=["jan-9est", "jul-10edt", "jul-9edt", "jan-8est", "jan-ends-at-noon", "jul-12-10edt"],
)
def test_windows_are_the_clients_wall_clock_whatever_the_season(
    start: datetime, fits: bool
) -> None:
    assert waitlist.suits_client(session(start), wish()) is fits


def test_a_window_keeps_its_wall_clock_on_the_mornings_around_the_spring_change() -> None:
    before, after = date(2026, 3, 2), date(2026, 3, 9)  # DST began Sunday March 8 in New York
    for monday in (before, after):
        assert waitlist.suits_client(session(at(monday, 9)), wish())
        assert not waitlist.suits_client(session(at(monday, 8, 30)), wish())
    # The same UTC time-of-day lands an hour later on the clock after the change.
    assert at(after, 9) - at(before, 9) == timedelta(days=7, hours=-1)


def test_the_clients_zone_decides_the_weekday_and_the_time() -> None:
    # Monday 9:30 in New York is Monday 15:30 in Warsaw: outside a Warsaw morning window...
    slot = session(at(date(2026, 3, 2), 9, 30))
    assert not waitlist.suits_client(slot, wish(zone="Europe/Warsaw"))
    # ...but inside a Warsaw Monday afternoon one.
    afternoons = (waitlist.Window(0, 14 * 60, 18 * 60),)
    assert waitlist.suits_client(slot, wish(afternoons, zone="Europe/Warsaw"))


def test_a_sunday_evening_in_new_york_is_a_monday_morning_in_warsaw() -> None:
    slot = session(at(date(2026, 3, 1), 23, 0, ZoneInfo("America/New_York")))
    early_monday = (waitlist.Window(0, 4 * 60, 8 * 60),)
    assert waitlist.suits_client(slot, wish(early_monday, zone="Europe/Warsaw"))
    assert not waitlist.suits_client(slot, wish(early_monday))


def test_dates_are_inclusive_on_the_clients_calendar() -> None:
    monday = date(2026, 3, 2)
    slot = session(at(monday, 10))
    assert waitlist.suits_client(slot, wish(earliest=monday, latest=monday))
    assert not waitlist.suits_client(slot, wish(earliest=monday + timedelta(days=1)))
    assert not waitlist.suits_client(slot, wish(latest=monday - timedelta(days=1)))


def test_a_window_to_midnight_takes_a_session_ending_at_midnight() -> None:
    late = (waitlist.Window(0, 23 * 60, 1440),)
    assert waitlist.suits_client(session(at(date(2026, 3, 2), 23, 0), 60), wish(late))
    assert not waitlist.suits_client(session(at(date(2026, 3, 2), 23, 30), 60), wish(late))


def test_the_practitioner_must_be_working_off_duty_and_clear_of_buffers() -> None:
    day = date(2026, 3, 2)
    working = [Interval(at(day, 9), at(day, 12)), Interval(at(day, 12), at(day, 17))]
    slot = session(at(day, 11, 30))  # spans the two touching periods
    clear = dict(working=working, blocked=[], busy=[], buffer=timedelta(minutes=10))
    assert waitlist.suits_practitioner(slot, **clear)  # type: ignore[arg-type]
    assert not waitlist.suits_practitioner(session(at(day, 16, 30)), **clear)  # type: ignore[arg-type]
    off = [Interval(at(day, 12), at(day, 13))]
    assert not waitlist.suits_practitioner(
        slot, working=working, blocked=off, busy=[], buffer=timedelta()
    )
    # A session ending at 11:25 is within the 10-minute buffer of one starting at 11:30.
    busy = [Interval(at(day, 10, 35), at(day, 11, 25))]
    assert not waitlist.suits_practitioner(
        slot, working=working, blocked=[], busy=busy, buffer=timedelta(minutes=10)
    )
    assert waitlist.suits_practitioner(
        slot, working=working, blocked=[], busy=busy, buffer=timedelta(minutes=5)
    )


def test_a_freed_span_offers_only_service_types_that_fit_in_it() -> None:
    day = date(2026, 3, 2)
    freed = Interval(at(day, 10), at(day, 10, 50))
    assert waitlist.slot_for(freed, timedelta(minutes=50)) == freed
    assert waitlist.slot_for(freed, timedelta(minutes=15)) == session(at(day, 10), 15)
    assert waitlist.slot_for(freed, timedelta(minutes=60)) is None


@pytest.mark.parametrize(
    ("mode", "open_offers", "expected"),
    [("one_at_a_time", 0, 1), ("one_at_a_time", 1, 0), ("first_n", 0, 3), ("first_n", 2, 0)],
    ids=["one-none-open", "one-one-open", "batch-none-open", "batch-some-open"],
)
def test_how_many_offers_go_out(mode: str, open_offers: int, expected: int) -> None:
    assert waitlist.offers_to_make(mode, 3, open_offers) == expected


def test_an_offer_never_outlasts_the_sessions_start() -> None:
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    assert waitlist.expires(now, 120, now + timedelta(days=1)) == now + timedelta(hours=2)
    assert waitlist.expires(now, 120, now + timedelta(minutes=30)) == now + timedelta(minutes=30)
