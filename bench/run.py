"""`make bench`: start the real topology, measure Rapport beside the hardware floor in one run,
print one table and write it as JSON (bench/results/latest.json).

    python -m bench.run [--scale small|full] [--only floors|bookings|open|sms|feed]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psutil
import psycopg
import requests

from bench import floors
from bench.scenarios import CLOCK, Bookings, Rapport, complete, done_at, epoch
from bench.stats import Figure, percentile, table
from bench.topology import Topology, plain_dsn, topology
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.support import wait_until

RESULTS = Path(__file__).parent / "results"
SCENARIOS = ("floors", "relay", "bookings", "open", "sms", "feed")


@dataclass(frozen=True)
class Scale:
    bookings: int  # per closed-loop run (8, then 32 clients)
    open_loop: int  # bookings at 50/s
    sms: int
    floor_requests: int
    effects_timeout: float


SCALES = {
    "small": Scale(
        bookings=200, open_loop=200, sms=1_000, floor_requests=2_000, effects_timeout=300
    ),
    "full": Scale(
        bookings=2_000, open_loop=1_000, sms=10_000, floor_requests=5_000, effects_timeout=900
    ),
}


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


class Bench:
    def __init__(self, top: Topology, scale: Scale) -> None:
        self.top = top
        self.scale = scale
        self.figures: list[Figure] = []
        self.extra: dict[str, object] = {}
        self._rapport: Rapport | None = None

    def add(self, *figures: Figure) -> None:
        for f in figures:
            self.figures.append(f)
            print(table([f]).splitlines()[-1], flush=True)

    @property
    def rapport(self) -> Rapport:
        if self._rapport is None:
            self._rapport = Rapport(self.top)
            self._rapport.quiet_hours_off()
            _wait_for_projections(self.top)
        return self._rapport

    # -- floors of the pieces --------------------------------------------------------------------

    def floors(self) -> None:
        n = self.scale.floor_requests
        dsn = plain_dsn(self.top.databases["floor"])
        broker = self.top.broker_url
        self.add(
            Figure(
                "floor",
                "PostgreSQL insert transactions/s (1 connection)",
                floors.postgres_transactions(dsn, n),
                "tx/s",
            ),
            Figure(
                "floor",
                "kombu publish with confirm, one at a time",
                floors.kombu_publish(broker, n, pipelined=False),
                "msg/s",
            ),
            Figure(
                "floor",
                "kombu publish with confirm, pipelined",
                floors.kombu_publish(broker, n, pipelined=True),
                "msg/s",
            ),
            Figure(
                "floor",
                "pika publish with confirm, one at a time",
                floors.pika_publish(broker, n, pipelined=False),
                "msg/s",
            ),
            Figure(
                "floor",
                "pika publish with confirm, pipelined",
                floors.pika_publish(broker, n, pipelined=True),
                "msg/s",
            ),
        )

    def relay(self) -> None:
        """Rapport's relay draining an outbox, beside the publish floors of the same run."""
        n = self.scale.floor_requests
        pipelined = floors.kombu_publish(self.top.broker_url, n, pipelined=True)
        one_by_one = floors.kombu_publish(self.top.broker_url, n, pipelined=False)
        drained = floors.relay_drain(self.top.databases["floor"], self.top.broker_url, n)
        self.add(
            Figure(
                "relay",
                f"outbox events published/s ({n} queued)",
                drained,
                "msg/s",
                "kombu publish with confirm, pipelined",
                pipelined,
            ),
            Figure(
                "relay",
                f"outbox events published/s ({n} queued)",
                drained,
                "msg/s",
                "kombu publish with confirm, one at a time",
                one_by_one,
            ),
        )

    # -- bookings, closed loop, and every effect -------------------------------------------------

    def bookings(self) -> None:
        rapport = self.rapport
        cpu_before, booked = self.top.cpu_seconds(), 0
        for clients in (8, 32):
            floor = floors.minimal_flask(self.top.floor_url, self.scale.floor_requests, clients)
            run = rapport.book_closed(self.scale.bookings, clients)
            booked += run.outcome.accepted
            self.add(
                Figure(
                    "bookings",
                    f"bookings accepted/s, {clients} clients",
                    run.outcome.per_second,
                    "/s",
                    "minimal Flask+gunicorn+PostgreSQL insert",
                    floor.per_second,
                    note=f"{run.outcome.refused} refused" if run.outcome.refused else "",
                ),
                Figure(
                    "bookings",
                    f"booking p50, {clients} clients",
                    ms(percentile(run.outcome.latencies, 50)),
                    "ms",
                    "minimal endpoint p50",
                    ms(percentile(floor.latencies, 50)),
                    higher_is_better=False,
                ),
            )
            self._every_effect(run, clients, floor.per_second)
        cpu = self.top.cpu_seconds() - cpu_before
        self.add(
            Figure(
                "bookings",
                "CPU per booking across the service processes",
                ms(cpu / booked) if booked else None,
                "ms",
                note="webs + workers, until every effect existed",
            )
        )
        for name, rss in sorted(self.top.worker_rss().items()):
            self.add(
                Figure("memory", f"RSS of {name} after the load", rss, "MB", higher_is_better=False)
            )

    def _every_effect(self, run: Bookings, clients: int, floor: float) -> None:
        found = self.rapport.wait_for_effects(list(run.began), self.scale.effects_timeout)
        finished = [epoch(t) for e in found.values() if (t := done_at(e)) is not None]
        whole = len(finished)
        span = (max(finished) - run.outcome.started) if finished else None
        self.add(
            Figure(
                "bookings",
                f"bookings with every effect/s, {clients} clients",
                whole / span if span else None,
                "/s",
                "minimal Flask+gunicorn+PostgreSQL insert",
                floor,
                note="" if whole == len(run.began) else f"only {whole} of {len(run.began)}",
            ),
        )

    # -- open loop at 50 bookings/s --------------------------------------------------------------

    def open(self) -> None:
        rate = 50.0
        run = self.rapport.book_open(self.scale.open_loop, rate)
        found = self.rapport.wait_for_effects(list(run.began), self.scale.effects_timeout)
        to_invoice = [
            epoch(e["invoice"]) - run.began[i] for i, e in found.items() if "invoice" in e
        ]
        to_confirmed = [
            max(epoch(e["confirmation_sms"]), epoch(e["confirmation_email"])) - run.began[i]
            for i, e in found.items()
            if complete(e)
        ]
        lat = run.outcome.latencies
        missing = len(run.began) - len(to_confirmed)
        self.add(
            Figure(
                "open loop 50/s",
                "bookings accepted/s",
                run.outcome.per_second,
                "/s",
                note=f"{run.outcome.refused} refused" if run.outcome.refused else "",
            ),
            Figure(
                "open loop 50/s",
                "booking p50",
                ms(percentile(lat, 50)),
                "ms",
                higher_is_better=False,
            ),
            Figure(
                "open loop 50/s",
                "booking p99",
                ms(percentile(lat, 99)),
                "ms",
                higher_is_better=False,
                note="target ≤ 50 ms",
            ),
            Figure(
                "open loop 50/s",
                "booking → invoice p50",
                percentile(to_invoice, 50),
                "s",
                higher_is_better=False,
            ),
            Figure(
                "open loop 50/s",
                "booking → invoice p99",
                percentile(to_invoice, 99),
                "s",
                higher_is_better=False,
                note="target ≤ 1 s",
            ),
            Figure(
                "open loop 50/s",
                "booking → both confirmations sent p50",
                percentile(to_confirmed, 50),
                "s",
                higher_is_better=False,
            ),
            Figure(
                "open loop 50/s",
                "booking → both confirmations sent p99",
                percentile(to_confirmed, 99),
                "s",
                higher_is_better=False,
                note="target ≤ 1 s" + (f"; {missing} never complete" if missing else ""),
            ),
        )

    # -- SMS reminders due at one instant --------------------------------------------------------

    def sms(self) -> None:
        twilio = self.top.env["BENCH_TWILIO_URL"]
        alone = floors.fake_twilio(twilio, ACCOUNT_SID, AUTH_TOKEN, self.scale.floor_requests, 8)
        count = self.scale.sms
        due = self.rapport.seed_due_sms(count)
        deadline = time.monotonic() + self.scale.effects_timeout
        sent: list = []
        while time.monotonic() < deadline:
            sent = self.rapport.sms_sent()
            if len(sent) >= count:
                break
            time.sleep(0.5)
        lateness = [(s - due).total_seconds() for s in sent]
        span = max(lateness) if lateness else None
        note = "" if len(sent) == count else f"only {len(sent)} of {count} sent"
        self.add(
            Figure(
                "SMS due at one instant",
                f"{count} SMS: lateness p50",
                percentile(lateness, 50),
                "s",
                higher_is_better=False,
                note=note,
            ),
            Figure(
                "SMS due at one instant",
                f"{count} SMS: lateness p99",
                percentile(lateness, 99),
                "s",
                higher_is_better=False,
                note="target ≤ 10 s",
            ),
            Figure(
                "SMS due at one instant",
                f"{count} SMS: sent/s",
                len(sent) / span if span else None,
                "/s",
                "fake Twilio alone (8 clients)",
                alone.per_second,
            ),
        )

    # -- the practitioner feed -------------------------------------------------------------------

    def feed(self) -> None:
        url = self.rapport.feed_of(1_000)
        floor = ms(percentile(floors.minimal_flask(self.top.floor_url, 40, 1).latencies, 50))
        http = requests.Session()
        full, conditional, etag = [], [], ""
        began = time.perf_counter()
        http.get(url, timeout=30).raise_for_status()
        first = time.perf_counter() - began
        for _ in range(20):
            began = time.perf_counter()
            answer = http.get(url, timeout=30)
            full.append(time.perf_counter() - began)
            answer.raise_for_status()
            etag = answer.headers["ETag"]
        for _ in range(20):
            began = time.perf_counter()
            answer = http.get(url, headers={"If-None-Match": etag}, timeout=30)
            conditional.append(time.perf_counter() - began)
            if answer.status_code != 304:
                raise RuntimeError(f"feed answered {answer.status_code} to a conditional GET")
        self.add(
            Figure(
                "feed",
                "1,000 sessions: first 200",
                ms(first),
                "ms",
                "minimal endpoint p50, 1 client",
                floor,
                higher_is_better=False,
            ),
            Figure(
                "feed",
                "1,000 sessions: 200 p50 (20 more)",
                ms(percentile(full, 50)),
                "ms",
                "minimal endpoint p50, 1 client",
                floor,
                higher_is_better=False,
                note="target ≤ 30 ms",
            ),
            Figure(
                "feed",
                "1,000 sessions: conditional 304 p50",
                ms(percentile(conditional, 50)),
                "ms",
                "minimal endpoint p50, 1 client",
                floor,
                higher_is_better=False,
                note="target ≤ 3 ms",
            ),
        )


def _wait_for_projections(top: Topology) -> None:
    """Billing and the notifier have heard of the demo clients (seed-demo's events)."""

    def heard() -> bool:
        with (
            psycopg.connect(plain_dsn(top.databases["billing"])) as b,
            psycopg.connect(plain_dsn(top.databases["notifier"])) as n,
        ):
            one = b.execute("SELECT count(*) FROM client_account").fetchone()
            two = n.execute("SELECT count(*) FROM client_contact").fetchone()
            return bool(one and two and one[0] >= 3 and two[0] >= 3)

    wait_until(
        heard, timeout=120, interval=0.5, message="demo clients to reach billing and notifier"
    )


def machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=SCALES, default="small")
    parser.add_argument("--only", choices=SCENARIOS, action="append")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    # A terminated bench still stops its processes and drops its vhost and databases.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scale = SCALES[args.scale]
    chosen = args.only or list(SCENARIOS)
    before = machine()
    began = CLOCK.now()
    logs = Path(tempfile.mkdtemp(prefix="rapport-bench-"))
    print(f"bench: scale {args.scale}, scenarios {', '.join(chosen)}; logs in {logs}", flush=True)
    with topology(logs) as top:
        bench = Bench(top, scale)
        for name in chosen:
            try:
                getattr(bench, name)()
            except Exception as exc:  # one scenario failing still reports the others
                print(f"bench: scenario {name} failed: {exc!r}", flush=True)
                bench.extra.setdefault("failed", []).append(f"{name}: {exc!r}")  # type: ignore[union-attr]
    report = {
        "started_at": began.isoformat(),
        "took_seconds": round((CLOCK.now() - began) / timedelta(seconds=1), 1),
        "scale": args.scale,
        "scenarios": chosen,
        "machine": before | {"load_average_after": os.getloadavg()},
        "figures": [f.as_dict() for f in bench.figures],
        **bench.extra,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print()
    print(
        f"machine: {before['cpus']} CPUs ({before['cpu_model']}), load average before "
        f"{before['load_average']}, after {report['machine']['load_average_after']}"
    )  # type: ignore[index]
    print(table(bench.figures))
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
