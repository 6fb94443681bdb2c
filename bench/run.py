"""`make bench`: start the real topology, measure Rapport beside the hardware floor in one run,
print one table and write it as JSON (bench/results/latest.json).

    python -m bench.run [--scale small|full] [--only floors|relay|bookings|open|sms|feed|scale]
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
from functools import partial
from pathlib import Path

import psutil
import psycopg
import requests

from bench import floors
from bench.scenarios import CLOCK, Bookings, Rapport, complete, done_at, epoch
from bench.stats import Figure, percentile, table
from bench.topology import Topology, plain_dsn, topology
from shared.config import SERVICES
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.support import RABBIT_API, wait_until

RESULTS = Path(__file__).parent / "results"
FEED_REQUESTS = 200  # of each kind, one after another: enough for a steady p50
SCENARIOS = ("floors", "relay", "bookings", "open", "sms", "feed", "scale")


@dataclass(frozen=True)
class Scale:
    bookings: int  # per closed-loop run (8, then 32 clients)
    open_loop: int  # bookings at 50/s
    sms: int
    floor_requests: int
    effects_timeout: float
    scaling: int  # bookings per load of the scale scenario (8 clients), once per worker count


SCALES = {
    "small": Scale(
        bookings=200,
        open_loop=200,
        sms=1_000,
        floor_requests=2_000,
        effects_timeout=300,
        scaling=100,
    ),
    "full": Scale(
        bookings=2_000,
        open_loop=1_000,
        sms=10_000,
        floor_requests=5_000,
        effects_timeout=900,
        scaling=1_000,
    ),
}


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


class Bench:
    def __init__(self, top: Topology, scale: Scale) -> None:
        self.top = top
        self.size = scale
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
        n = self.size.floor_requests
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
        n = self.size.floor_requests
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
        cpu_before, booked = self.top.cpu_by_process(), 0
        for clients in (8, 32):
            floor = floors.minimal_flask(self.top.floor_url, self.size.floor_requests, clients)
            run = rapport.book_closed(self.size.bookings, clients)
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
            whole, rate = self._every_effect(run)
            self.add(
                Figure(
                    "bookings",
                    f"bookings with every effect/s, {clients} clients",
                    rate,
                    "/s",
                    "minimal Flask+gunicorn+PostgreSQL insert",
                    floor.per_second,
                    note="" if whole == len(run.began) else f"only {whole} of {len(run.began)}",
                ),
            )
        spent = {
            name: seconds - cpu_before.get(name, 0.0)
            for name, seconds in self.top.cpu_by_process().items()
        }
        self.add(
            Figure(
                "bookings",
                "CPU per booking across the service processes",
                ms(sum(spent.values()) / booked) if booked else None,
                "ms",
                note="webs + workers, until every effect existed",
            )
        )
        for name, seconds in sorted(spent.items()):
            self.add(
                Figure(
                    "bookings",
                    f"CPU per booking in {name}",
                    ms(seconds / booked) if booked else None,
                    "ms",
                    higher_is_better=False,
                )
            )
        for name, rss in sorted(self.top.worker_rss().items()):
            self.add(
                Figure("memory", f"RSS of {name} after the load", rss, "MB", higher_is_better=False)
            )

    def _every_effect(self, run: Bookings) -> tuple[int, float | None]:
        """How many of the load's bookings came to have every effect, and how many per second
        from the load's start to the last effect."""
        found = self.rapport.wait_for_effects(list(run.began), self.size.effects_timeout)
        finished = [epoch(t) for e in found.values() if (t := done_at(e)) is not None]
        span = (max(finished) - run.outcome.started) if finished else None
        return len(finished), (len(finished) / span if span else None)

    # -- open loop at 50 bookings/s --------------------------------------------------------------

    def open(self) -> None:
        rate = 50.0
        run = self.rapport.book_open(self.size.open_loop, rate)
        found = self.rapport.wait_for_effects(list(run.began), self.size.effects_timeout)
        to_invoice = [
            epoch(e["invoice"]) - run.began[i] for i, e in found.items() if "invoice" in e
        ]
        to_confirmed = [
            max(epoch(e["confirmation_sms"]), epoch(e["confirmation_email"])) - run.began[i]
            for i, e in found.items()
            if complete(e)
        ]
        to_planned = [
            epoch(e["confirmation_planned"]) - run.began[i]
            for i, e in found.items()
            if "confirmation_planned" in e
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
                "booking → confirmations planned p50",
                percentile(to_planned, 50),
                "s",
                higher_is_better=False,
            ),
            Figure(
                "open loop 50/s",
                "booking → confirmations planned p99",
                percentile(to_planned, 99),
                "s",
                higher_is_better=False,
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
        alone = floors.fake_twilio(twilio, ACCOUNT_SID, AUTH_TOKEN, self.size.floor_requests, 8)
        count = self.size.sms
        due = self.rapport.seed_due_sms(count)
        deadline = time.monotonic() + self.size.effects_timeout
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
        for _ in range(FEED_REQUESTS):
            began = time.perf_counter()
            answer = http.get(url, timeout=30)
            full.append(time.perf_counter() - began)
            answer.raise_for_status()
            etag = answer.headers["ETag"]
        for _ in range(FEED_REQUESTS):
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
                f"1,000 sessions: 200 p50 ({FEED_REQUESTS} more)",
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

    # -- one worker process per service, then two ----------------------------------------------

    def scale(self) -> None:
        """The bookings-with-every-effect load (8 clients) with one worker process per service,
        then again with a second one per service started beside it; the second ones are
        stopped afterwards, so that a scenario run after this one sees the usual topology."""
        rates: dict[int, float | None] = {}
        added: list[str] = []
        try:
            for workers in (1, 2):
                if workers == 2:
                    # The new workers take their share of the queues before the load begins.
                    one = consumers(self.top)
                    added = [self.top.start_worker(service) for service in SERVICES]
                    wait_until(
                        partial(_doubled, self.top, one),
                        timeout=120,
                        interval=0.5,
                        message="the second workers to consume",
                    )
                run = self.rapport.book_closed(self.size.scaling, 8)
                whole, rates[workers] = self._every_effect(run)
                self.add(
                    Figure(
                        "scale",
                        f"bookings with every effect/s, {processes(workers)} per service",
                        rates[workers],
                        "/s",
                        "1 worker process per service" if workers == 2 else None,
                        rates[1] if workers == 2 else None,
                        note=("ratio: 2 ÷ 1; " if workers == 2 else "")
                        + f"{self.size.scaling} bookings, 8 clients"
                        + ("" if whole == len(run.began) else f", only {whole} complete"),
                    )
                )
            for name, rss in sorted(self.top.worker_rss().items()):
                if "-worker" in name:
                    self.add(
                        Figure(
                            "scale",
                            f"RSS of {name} after the 2-worker load",
                            rss,
                            "MB",
                            higher_is_better=False,
                        )
                    )
        finally:
            for name in added:
                self.top.stop_process(name)


def processes(count: int) -> str:
    return f"{count} worker process" + ("es" if count > 1 else "")


def consumers(top: Topology) -> int:
    """Consumers on every queue of the bench's vhost, from RabbitMQ's management API (its
    figures lag by a few seconds)."""
    vhost = top.broker_url.rsplit("/", 1)[1]
    queues = requests.get(f"{RABBIT_API}/queues/{vhost}", auth=("guest", "guest"), timeout=5)
    return sum(int(q.get("consumers", 0)) for q in queues.json())


def _doubled(top: Topology, before: int) -> bool:
    return consumers(top) >= 2 * before


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
    parser.add_argument(
        "--output",
        type=Path,
        help="default bench/results/latest.json for a whole run; a run of some scenarios "
        "(--only) writes bench/results/only-<scenarios>.json, which git ignores",
    )
    args = parser.parse_args(argv)
    if args.output is None:
        partial = "-".join(args.only) if args.only else ""
        args.output = RESULTS / (f"only-{partial}.json" if partial else "latest.json")
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
        failed: list[str] = []
        for name in chosen:
            try:
                getattr(bench, name)()
            except Exception as exc:  # one scenario failing still reports the others
                print(f"bench: scenario {name} failed: {exc!r}", flush=True)
                failed.append(f"{name}: {exc!r}")
    report = {
        "started_at": began.isoformat(),
        "took_seconds": round((CLOCK.now() - began) / timedelta(seconds=1), 1),
        "scale": args.scale,
        "scenarios": chosen,
        "machine": before | {"load_average_after": os.getloadavg()},
        "figures": [f.as_dict() for f in bench.figures],
        **bench.extra,
        **({"failed": failed} if failed else {}),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print()
    print(
        f"machine: {before['cpus']} CPUs ({before['cpu_model']}), load average before "
        f"{before['load_average']}, after {report['machine']['load_average_after']}"
    )
    print(table(bench.figures))
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
