"""Between rounds the dispatcher waits its interval, unless a message planned in this process
is already due, or the worker is stopping."""

from __future__ import annotations

import threading

from services.notifier import planning
from services.notifier.dispatcher import until_next_round

LONG = 60.0  # an interval no test here waits out


def waiting(stop: threading.Event) -> threading.Thread:
    planning.due_now.clear()
    thread = threading.Thread(target=until_next_round, args=(stop, LONG), daemon=True)
    thread.start()
    return thread


def test_a_message_due_now_ends_the_wait() -> None:
    thread = waiting(threading.Event())
    thread.join(0.3)
    assert thread.is_alive()  # nothing due: still waiting
    planning.due_now.set()
    thread.join(10)
    assert not thread.is_alive()


def test_a_stop_ends_the_wait() -> None:
    stop = threading.Event()
    thread = waiting(stop)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()


def test_the_wait_ends_after_the_interval() -> None:
    planning.due_now.clear()
    until_next_round(threading.Event(), 0.05)  # returns by itself
