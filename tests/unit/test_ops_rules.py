"""The Prometheus alert rules: promtool accepts them and the configuration that loads them, their
unit tests (deploy/prometheus/tests/) pass, and every alert is tested firing and not firing and
tells the operator what it means and what to do. promtool comes from Debian's prometheus
package (scripts/ensure-services.sh installs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.yml"))
SEVERITIES = {"critical", "warning"}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed; scripts/ensure-services.sh installs it")
    return subprocess.run(
        [path, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def _alerts() -> list[dict[str, Any]]:
    alerts = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            alerts += [rule for rule in group["rules"] if "alert" in rule]
    return alerts


def test_there_are_rule_files_and_rule_tests() -> None:
    assert RULE_FILES, "deploy/prometheus/rules/ holds no *.yml"
    assert TEST_FILES, "deploy/prometheus/tests/ holds no *.yml"
    assert len(_alerts()) >= 10


def test_promtool_accepts_the_rules() -> None:
    result = _promtool("check", "rules", *(str(p.relative_to(ROOT)) for p in RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_configuration_loading_the_rules() -> None:
    result = _promtool("check", "config", "deploy/prometheus/prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    for path in RULE_FILES:
        assert path.name in result.stdout + result.stderr, "rule_files does not load " + path.name


def test_the_rule_unit_tests_pass() -> None:
    result = _promtool("test", "rules", *(str(p.relative_to(ROOT)) for p in TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_the_rule_unit_tests_load_every_rule_file() -> None:
    loaded = set()
    for path in TEST_FILES:
        for name in yaml.safe_load(path.read_text())["rule_files"]:
            loaded.add((path.parent / name).resolve())
    assert {p.resolve() for p in RULE_FILES} <= loaded


def _evaluations() -> dict[str, list[list[Any]]]:
    """alertname -> the exp_alerts lists of every evaluation of it in the unit tests."""
    found: dict[str, list[list[Any]]] = {}
    for path in TEST_FILES:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for check in test.get("alert_rule_test", []):
                found.setdefault(check["alertname"], []).append(check.get("exp_alerts") or [])
    return found


@pytest.mark.parametrize("alert", [rule["alert"] for rule in _alerts()])
def test_every_alert_is_tested_firing_and_not_firing(alert: str) -> None:
    evaluations = _evaluations().get(alert, [])
    assert any(evaluations), f"no unit test expects {alert} to fire"
    assert any(not expected for expected in evaluations), f"no unit test expects {alert} quiet"
    for expected in evaluations:
        for exp in expected:  # annotations are compared whole: templates are checked too
            assert exp.get("exp_annotations", {}).keys() >= {"summary", "description"}


@pytest.mark.parametrize("rule", _alerts(), ids=lambda rule: rule["alert"])
def test_every_alert_says_how_bad_it_is_what_it_means_and_what_to_do(rule: dict[str, Any]) -> None:
    assert rule["alert"].startswith("Rapport")
    assert rule.get("labels", {}).get("severity") in SEVERITIES
    annotations = rule.get("annotations", {})
    assert annotations.get("summary"), "no summary"
    description = annotations.get("description", "")
    assert len(description) > 120, "the description must say what it means and what to do"
    # Each description names something to run or look at.
    assert any(
        hint in description
        for hint in ("rapport ", "docker compose", "kubectl", "dashboard", "/api/", "logs")
    ), description


def test_the_dead_letter_and_outbox_alerts_point_at_the_cli() -> None:
    by_name = {rule["alert"]: rule["annotations"]["description"] for rule in _alerts()}
    assert "rapport dlq list" in by_name["RapportDeadLetters"]
    assert "rapport dlq replay" in by_name["RapportDeadLetters"]
    assert "rapport outbox" in by_name["RapportOutboxEventStuck"]
    assert "rapport outbox" in by_name["RapportOutboxBacklogGrowing"]
