"""The per-sender-number rate limit of the dispatcher (no sleeping: the wait is recorded)."""

from __future__ import annotations

import threading

from services.notifier.dispatcher import SenderRateLimit


class RecordingStop(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return False


def test_a_second_message_from_the_same_number_waits_for_its_turn() -> None:
    limit, stop = SenderRateLimit(per_second=0.5), RecordingStop()

    limit.wait("+16175550199", stop)
    limit.wait("+16175550199", stop)

    assert len(stop.waits) == 1
    assert 1.0 < stop.waits[0] <= 2.0


def test_another_number_does_not_wait() -> None:
    limit, stop = SenderRateLimit(per_second=0.5), RecordingStop()

    limit.wait("+16175550199", stop)
    limit.wait("+16175550100", stop)

    assert stop.waits == []


def test_zero_means_no_limit() -> None:
    limit, stop = SenderRateLimit(per_second=0), RecordingStop()
    for _ in range(5):
        limit.wait("+16175550199", stop)
    assert stop.waits == []
