"""The one place services read the time from, so that tests can control it."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """UTC wall clock, optionally shifted by RAPPORT_CLOCK_OFFSET seconds (tests and demos only)."""

    def __init__(self, offset: timedelta | None = None) -> None:
        if offset is None:
            offset = timedelta(seconds=float(os.environ.get("RAPPORT_CLOCK_OFFSET", "0")))
        self.offset = offset

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


def utcnow() -> datetime:
    return datetime.now(UTC)
