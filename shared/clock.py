"""The one place every process reads the time from, so that tests — and a whole running system
under test — can be placed at any instant with ``RAPPORT_TEST_NOW``."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Protocol

TEST_NOW = "RAPPORT_TEST_NOW"
# The real UNIX time at which RAPPORT_TEST_NOW was "now". Set once by whoever starts a system
# under test (the suite, `rapport dev`) and inherited by every process it starts, so that all
# their clocks read the same instant and run forward together.
TEST_NOW_ANCHOR = "RAPPORT_TEST_NOW_ANCHOR"


class Clock(Protocol):
    def now(self) -> datetime: ...


class ClockError(ValueError):
    """RAPPORT_TEST_NOW is malformed, or set where it must not be (production)."""


class SystemClock:
    """The UTC wall clock, or — with RAPPORT_TEST_NOW — a clock that started at that instant and
    runs forward at normal speed."""

    def __init__(self, offset: timedelta | None = None, env: Mapping[str, str] | None = None):
        self.offset = test_offset(os.environ if env is None else env) if offset is None else offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._at = at.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._at += delta

    def set(self, at: datetime) -> None:
        with self._lock:
            self._at = at.astimezone(UTC)


def parse_instant(raw: str) -> datetime:
    """An ISO 8601 instant with its offset (``2026-12-02T01:30:00Z``), as aware UTC."""
    try:
        at = datetime.fromisoformat(raw.strip())
    except ValueError as exc:
        raise ClockError(f"{TEST_NOW}={raw!r} is not an ISO 8601 instant") from exc
    if at.tzinfo is None:
        raise ClockError(f"{TEST_NOW}={raw!r} needs an offset or Z (it names an instant)")
    return at.astimezone(UTC)


def test_offset(env: Mapping[str, str]) -> timedelta:
    """How far the test instant is from the real time at which it was pinned (zero unless
    RAPPORT_TEST_NOW is set)."""
    raw = env.get(TEST_NOW, "").strip()
    if not raw:
        return timedelta(0)
    if env.get("RAPPORT_PRODUCTION", "").strip().lower() in {"1", "true", "yes", "on"}:
        raise ClockError(f"{TEST_NOW} places the clock for tests; it is refused in production")
    at = parse_instant(raw)
    anchor_raw = env.get(TEST_NOW_ANCHOR, "").strip()
    try:
        anchor = float(anchor_raw) if anchor_raw else time.time()
    except ValueError as exc:
        raise ClockError(f"{TEST_NOW_ANCHOR}={anchor_raw!r} is not a UNIX time") from exc
    return at - datetime.fromtimestamp(anchor, UTC)


def pin_test_now(env: MutableMapping[str, str]) -> None:
    """Fix the real moment at which RAPPORT_TEST_NOW is "now" (once), so that every process
    started with this environment shares one timeline. Validates the instant on the way."""
    if env.get(TEST_NOW, "").strip() and not env.get(TEST_NOW_ANCHOR, "").strip():
        test_offset(env)
        env[TEST_NOW_ANCHOR] = repr(time.time())


_process_clock: SystemClock | None = None


def now() -> datetime:
    """The application clock of this process, for code that has no runtime at hand (the CLI,
    test helpers). Services use ``rt.clock``."""
    global _process_clock
    if _process_clock is None:
        _process_clock = SystemClock()
    return _process_clock.now()
