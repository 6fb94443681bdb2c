"""The bench's own helpers: percentiles, ratios to the floor, and the table it prints. (The bench
is not a test: nothing here times anything.)"""

from __future__ import annotations

from bench.stats import Figure, percentile, table
from bench.topology import is_service_process, worker_name


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.5
    assert percentile(values, 99) == 99.01
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0
    assert percentile([3.0, 1.0, 2.0], 100) == 3.0
    assert percentile([], 50) is None


def test_ratio_is_a_fraction_of_the_floor_either_way() -> None:
    rate = Figure("bookings", "accepted/s", 250.0, "/s", "minimal Flask", 1000.0)
    time = Figure("feed", "p50", 40.0, "ms", "static file", 10.0, higher_is_better=False)
    assert rate.ratio == 0.25
    assert time.ratio == 0.25
    assert Figure("feed", "p50", None, "ms").ratio is None
    assert rate.as_dict()["ratio"] == 0.25


def test_table_has_one_row_per_figure_with_floor_and_ratio() -> None:
    text = table(
        [
            Figure("bookings", "accepted/s, 8 clients", 41.2, "/s", "minimal Flask", 896.0),
            Figure("feed", "304 p50", None, "ms", note="not run"),
        ]
    )
    lines = text.splitlines()
    assert lines[0].startswith("| scenario | figure | Rapport |")
    assert len(lines) == 4
    assert "41.2 /s" in lines[2] and "minimal Flask: 896 /s" in lines[2] and "4.6%" in lines[2]
    assert lines[3] == "| feed | 304 p50 | — (not run) | — | — |"


def test_worker_processes_are_named_by_service_and_count() -> None:
    assert worker_name("billing", 1) == "billing-worker"
    assert worker_name("billing", 2) == "billing-worker-2"
    for name in ("billing-web", "billing-worker", "notifier-worker-2"):
        assert is_service_process(name), name
    for name in ("fakes", "floor-web", "billing-webhooks", "nobody-worker"):
        assert not is_service_process(name), name
