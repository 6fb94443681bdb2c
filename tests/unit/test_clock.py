"""The application clock: RAPPORT_TEST_NOW places every process at one instant."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import (
    TEST_NOW,
    TEST_NOW_ANCHOR,
    ClockError,
    SystemClock,
    parse_instant,
    pin_test_now,
)


def test_without_a_test_instant_the_clock_is_the_real_utc_time() -> None:
    before = datetime.now(UTC)
    read = SystemClock(env={}).now()
    assert before <= read <= datetime.now(UTC)
    assert read.tzinfo is UTC


def test_a_test_instant_starts_the_clock_there_and_lets_it_run() -> None:
    clock = SystemClock(env={TEST_NOW: "2027-01-01T04:52:00Z"})
    first = clock.now()
    assert timedelta(0) <= first - datetime(2027, 1, 1, 4, 52, tzinfo=UTC) < timedelta(seconds=5)
    time.sleep(0.05)
    assert clock.now() > first


def test_processes_sharing_an_anchor_read_one_timeline() -> None:
    env = {TEST_NOW: "2028-02-29T14:30:00+00:00"}
    pin_test_now(env)
    anchor = env[TEST_NOW_ANCHOR]
    time.sleep(0.2)
    # A process started later with the same environment is as far along as the first.
    later = SystemClock(env=env).now()
    assert later - datetime(2028, 2, 29, 14, 30, tzinfo=UTC) >= timedelta(seconds=0.2)
    pin_test_now(env)
    assert env[TEST_NOW_ANCHOR] == anchor  # pinned once


def test_an_offset_other_than_utc_names_the_same_instant() -> None:
    assert parse_instant("2027-03-14T01:55:00-05:00") == datetime(2027, 3, 14, 6, 55, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["tomorrow", "2027-03-14", "2027-03-14T06:55:00"])
def test_a_test_instant_must_be_an_instant(raw: str) -> None:
    with pytest.raises(ClockError, match=TEST_NOW):
        SystemClock(env={TEST_NOW: raw})


def test_a_test_instant_is_refused_in_production() -> None:
    with pytest.raises(ClockError, match="refused in production"):
        SystemClock(env={TEST_NOW: "2027-01-01T00:00:00Z", "RAPPORT_PRODUCTION": "1"})


def test_the_rapport_command_refuses_a_test_instant_in_production() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "outbox", "scheduler"],
        env={"RAPPORT_TEST_NOW": "2027-01-01T00:00:00Z", "RAPPORT_PRODUCTION": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "RAPPORT_TEST_NOW places the clock for tests; it is refused in production" in (
        result.stderr
    )
