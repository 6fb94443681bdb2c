"""Alerts reach a person: amtool accepts every Alertmanager configuration, each routes every
alert Prometheus fires to an e-mail receiver, the compose one through the Mailpit container,
and Prometheus sends its alerts to that Alertmanager. amtool comes from Debian's
prometheus-alertmanager package (scripts/ensure-services.sh installs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
CONFIGS = [COMPOSE_CONFIG, *sorted((ROOT / "deploy" / "k8s").glob("**/alertmanager.yml"))]
RULE_FILES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("amtool")
    if path is None:
        pytest.fail("amtool is not installed; scripts/ensure-services.sh installs it")
    return subprocess.run(
        [path, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def _ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("config", CONFIGS, ids=_ids)
def test_amtool_accepts_the_configuration(config: Path) -> None:
    result = _amtool("check-config", str(config.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_rejects_a_misspelt_field(tmp_path: Path) -> None:
    # check-config is strict, so the test above proves more than "it is YAML".
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(COMPOSE_CONFIG.read_text().replace("smtp_smarthost", "smtp_smart_host"))
    assert _amtool("check-config", str(broken)).returncode != 0


def _alerts() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


@pytest.mark.parametrize("config", CONFIGS, ids=_ids)
def test_every_alert_is_routed_to_an_email_receiver(config: Path) -> None:
    receivers = {r["name"]: r for r in yaml.safe_load(config.read_text())["receivers"]}
    for rule in _alerts():
        labels = {"alertname": rule["alert"], **rule.get("labels", {})}
        result = _amtool(
            "config", "routes", "test", f"--config.file={config.relative_to(ROOT)}",
            *(f"{key}={value}" for key, value in labels.items()),
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        names = result.stdout.replace(",", " ").split()
        assert names, f"{rule['alert']} reaches no receiver"
        for name in names:
            assert receivers[name].get("email_configs"), f"{name} sends no e-mail"
            for email in receivers[name]["email_configs"]:
                assert email.get("to") and email.get("send_resolved", False) is True


def test_compose_alertmanager_mails_through_mailpit() -> None:
    config = yaml.safe_load(COMPOSE_CONFIG.read_text())["global"]
    assert config["smtp_smarthost"] == "mailpit:1025"
    assert config["smtp_from"]


def test_prometheus_sends_alerts_to_the_compose_alertmanager() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = [
        target
        for manager in config["alerting"]["alertmanagers"]
        for static in manager["static_configs"]
        for target in static["targets"]
    ]
    assert targets == ["alertmanager:9093"]
