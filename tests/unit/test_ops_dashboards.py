"""The Grafana dashboards in deploy/grafana/dashboards: valid dashboard JSON that provisioning
loads, each query valid PromQL, and every metric they (and the alert rules) query is one the
services really export, so a renamed metric cannot leave a panel or an alert silently empty."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
RULE_FILES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
EXPECTED = {"overview", "scheduler", "notifier", "billing"}
DATASOURCE_UID = "prometheus"  # deploy/grafana/provisioning/datasources/prometheus.yml

# Series Prometheus or RabbitMQ's own plugin provide, not Rapport.
EXTERNAL_NAMES = {"up"}
EXTERNAL_PREFIXES = ("rabbitmq_",)

# What RabbitMQ's rabbitmq_prometheus plugin (3.13) exposes, by endpoint, of what we query:
# /metrics aggregates per node; /metrics/detailed?family=queue_coarse_metrics lists each
# queue, with the rabbitmq_detailed_ prefix. (deps/rabbitmq_prometheus in rabbitmq-server.)
RABBITMQ_AGGREGATED = {
    "rabbitmq_connections", "rabbitmq_channels", "rabbitmq_consumers", "rabbitmq_queues",
    "rabbitmq_queue_messages_ready", "rabbitmq_queue_messages_unacked", "rabbitmq_queue_messages",
    "rabbitmq_alarms_memory_used_watermark", "rabbitmq_alarms_free_disk_space_watermark",
    "rabbitmq_alarms_file_descriptor_limit", "rabbitmq_process_resident_memory_bytes",
    "rabbitmq_resident_memory_limit_bytes", "rabbitmq_disk_space_available_bytes",
}  # fmt: skip
RABBITMQ_QUEUE_COARSE = {
    "rabbitmq_detailed_queue_messages_ready", "rabbitmq_detailed_queue_messages_unacked",
    "rabbitmq_detailed_queue_messages",
}  # fmt: skip
PROMETHEUS_CONFIGS = [
    ROOT / "deploy" / "prometheus" / "prometheus.yml",
    *sorted((ROOT / "deploy" / "k8s").glob("**/prometheus.yml")),
]

SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}


def exported_series_names() -> set[str]:
    """Every series name the services can expose: the shared metrics, the queue monitor and each
    service's metrics module, including collectors that only produce samples at scrape time.
    A labelled metric has no samples until it is first used, so names come from the family
    type as well as from the samples."""
    importlib.import_module("shared.metrics")
    importlib.import_module("shared.bus.monitor")
    for module in sorted((ROOT / "services").glob("*/metrics.py")):
        importlib.import_module(f"services.{module.parent.name}.metrics")
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


# --- PromQL -------------------------------------------------------------------------------------

KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "atan2", "inf", "nan",
}  # fmt: skip
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, label matchers,
    durations and grouping labels left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text
    )  # grouping labels
    text = re.sub(r"\$\w+", " ", text)  # Grafana variables
    names = set()
    for match in IDENTIFIER.finditer(text):
        name = match.group(0)
        if name.lower() in KEYWORDS or re.match(r"\s*\(", text[match.end() :]):
            continue  # a keyword or a function call
        if text[match.start() - 1 : match.start()].isdigit():
            continue  # the unit of a number like 5m or 1e3
        names.add(name)
    return names


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # panels of a collapsed row


def _dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def _dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for panel in _panels(dashboard) for t in panel.get("targets", [])]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        query = query.get("query", "") if isinstance(query, dict) else str(query or "")
        match = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query)
        if match:
            exprs.append(match.group(1))
    return exprs


def _rule_exprs() -> list[str]:
    exprs = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            exprs += [str(rule["expr"]) for rule in group["rules"]]
    return exprs


def unknown_metrics(exprs: list[str], exported: set[str]) -> set[str]:
    referenced = set().union(*(metric_names(e) for e in exprs)) if exprs else set()
    return {
        name
        for name in referenced
        if name not in exported
        and name not in EXTERNAL_NAMES
        and not name.startswith(EXTERNAL_PREFIXES)
    }


@pytest.fixture(scope="module")
def exported() -> set[str]:
    names = exported_series_names()
    assert "rapport_http_requests_total" in names and "rapport_outbox_backlog" in names
    return names


# --- structure ------------------------------------------------------------------------------------


def test_there_is_an_overview_and_a_dashboard_per_service() -> None:
    assert set(_dashboards()) >= EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_dashboard_is_well_formed(name: str) -> None:
    dashboard = _dashboards()[name]
    assert dashboard["title"] and dashboard["uid"] and len(dashboard["uid"]) <= 40
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert "id" not in dashboard or dashboard["id"] is None, "provisioned dashboards carry no id"
    panels = list(_panels(dashboard))
    assert len(panels) >= 8
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    occupied: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= grid.keys(), panel["title"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"panel {panel['title']!r} overlaps another"
        occupied |= cells
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel["targets"], panel
        assert panel["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"])["uid"] == DATASOURCE_UID
            assert target["expr"].strip() and target["refId"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            assert variable["datasource"]["uid"] == DATASOURCE_UID


def test_dashboard_uids_and_titles_are_unique() -> None:
    dashboards = list(_dashboards().values())
    assert len({d["uid"] for d in dashboards}) == len(dashboards)
    assert len({d["title"] for d in dashboards}) == len(dashboards)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_dashboard_query_is_valid_promql(name: str, tmp_path: Path) -> None:
    """promtool parses each query as a recording rule (Grafana's variables filled in)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed; scripts/ensure-services.sh installs it")
    rules = []
    for index, expr in enumerate(_dashboard_exprs(_dashboards()[name])):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        expr = re.sub(r"\$\w+", ".*", expr)
        rules.append({"record": f"dashboard:query_{index}", "expr": expr})
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": name, "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- every metric is real -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_metric_a_dashboard_queries_is_exported(name: str, exported: set[str]) -> None:
    exprs = _dashboard_exprs(_dashboards()[name])
    assert any(metric_names(e) for e in exprs)
    missing = unknown_metrics(exprs, exported)
    assert not missing, f"{name}.json queries metrics no service exports: {sorted(missing)}"


def test_every_metric_an_alert_rule_queries_is_exported(exported: set[str]) -> None:
    exprs = _rule_exprs()
    assert exprs
    missing = unknown_metrics(exprs, exported)
    assert not missing, f"alert rules query metrics no service exports: {sorted(missing)}"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (service) (rate(rapport_http_requests_total{status=~"5.."}[5m]))',
         {"rapport_http_requests_total"}),
        ("histogram_quantile(0.95, sum by (le, type) (rate(x_bucket[$__rate_interval])))",
         {"x_bucket"}),
        ('(sum(rate(a_total[15m])) or vector(0)) / on (job) group_left (instance) b > 0.1',
         {"a_total", "b"}),
        ('absent(up{job="billing"}) or max_over_time(rabbitmq_connections[1h:5m] offset 1d)',
         {"up", "rabbitmq_connections"}),
        ('label_replace(m, "dst", "$1", "src", "(.*)") unless ignoring (le) n', {"m", "n"}),
    ],
)  # fmt: skip
def test_metric_names_are_extracted_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_a_made_up_metric_is_caught(exported: set[str]) -> None:
    exprs = [
        "sum(rate(rapport_http_requests_total[5m]))"
        " / sum(rate(rapport_bookings_made_up_total[5m]))",
        "rapport_http_request_seconds",  # a histogram is queried through _bucket/_sum/_count
        "rapport_reminders_sent",  # a counter is exposed with _total
        "up + rabbitmq_queue_messages_ready",
    ]
    assert unknown_metrics(exprs, exported) == {
        "rapport_bookings_made_up_total",
        "rapport_http_request_seconds",
        "rapport_reminders_sent",
    }


# --- RabbitMQ's own series come from the RabbitMQ scrape jobs ------------------------------------


def _rabbitmq_names() -> set[str]:
    exprs = _rule_exprs() + [e for d in _dashboards().values() for e in _dashboard_exprs(d)]
    return {name for e in exprs for name in metric_names(e) if name.startswith("rabbitmq_")}


def _scrapes(config: Path, path: str, family: str | None = None) -> bool:
    """Whether a job of the configuration scrapes RabbitMQ's plugin port at ``path``."""
    for job in yaml.safe_load(config.read_text())["scrape_configs"]:
        if job.get("metrics_path", "/metrics") != path:
            continue
        if family and family not in job.get("params", {}).get("family", []):
            continue
        targets = [t for s in job.get("static_configs", []) for t in s["targets"]]
        if any(t.endswith(":15692") for t in targets):
            return True
    return False


def test_every_rabbitmq_series_queried_is_one_the_plugin_exposes() -> None:
    names = _rabbitmq_names()
    assert {"rabbitmq_alarms_memory_used_watermark", "rabbitmq_detailed_queue_messages_ready"} <= (
        names
    )
    unknown = names - RABBITMQ_AGGREGATED - RABBITMQ_QUEUE_COARSE
    assert not unknown, f"rabbitmq_prometheus exposes no {sorted(unknown)}"


@pytest.mark.parametrize("config", PROMETHEUS_CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_prometheus_scrapes_the_rabbitmq_endpoints_the_queries_need(config: Path) -> None:
    names = _rabbitmq_names()
    if names & RABBITMQ_AGGREGATED:
        assert _scrapes(config, "/metrics"), "no job scrapes RabbitMQ's /metrics (:15692)"
    if names & RABBITMQ_QUEUE_COARSE:
        assert _scrapes(config, "/metrics/detailed", "queue_coarse_metrics"), (
            "no job scrapes /metrics/detailed?family=queue_coarse_metrics"
        )
