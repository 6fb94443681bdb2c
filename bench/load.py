"""HTTP load against 127.0.0.1: closed loop (N clients, each waits for its answer) and open loop
(requests start on a fixed schedule, latency counted from the scheduled instant)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

Request = Callable[[requests.Session, int], bool]  # (session, index) -> accepted


@dataclass
class Outcome:
    started: float  # time.time() when the load began
    elapsed: float
    accepted: int
    refused: int
    latencies: list[float] = field(default_factory=list)  # seconds
    start_of: dict[int, float] = field(default_factory=dict)  # index -> wall-clock start

    @property
    def per_second(self) -> float:
        return self.accepted / self.elapsed if self.elapsed else 0.0


def closed_loop(request: Request, count: int, clients: int, deadline: float = 300.0) -> Outcome:
    lock = threading.Lock()
    next_index = iter(range(count))
    outcome = Outcome(time.time(), 0.0, 0, 0)
    stop_at = time.monotonic() + deadline

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < stop_at:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            wall, began = time.time(), time.perf_counter()
            try:
                ok = request(session, index)
            except requests.RequestException:
                ok = False
            took = time.perf_counter() - began
            with lock:
                outcome.start_of[index] = wall
                outcome.latencies.append(took)
                if ok:
                    outcome.accepted += 1
                else:
                    outcome.refused += 1

    began = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcome.elapsed = time.perf_counter() - began
    return outcome


def open_loop(request: Request, count: int, rate: float, workers: int = 64) -> Outcome:
    """Start request i at i / rate seconds; a late start still counts from its scheduled time
    (no coordinated omission)."""
    lock = threading.Lock()
    local = threading.local()
    outcome = Outcome(time.time(), 0.0, 0, 0)
    origin_wall, origin = time.time(), time.perf_counter()

    def one(index: int) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        scheduled = origin + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        try:
            ok = request(session, index)
        except requests.RequestException:
            ok = False
        took = time.perf_counter() - scheduled
        with lock:
            outcome.start_of[index] = origin_wall + index / rate
            outcome.latencies.append(took)
            if ok:
                outcome.accepted += 1
            else:
                outcome.refused += 1

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, range(count)))
    outcome.elapsed = time.perf_counter() - origin
    return outcome
