"""Secrets that cannot be the published ones (shared/secret_policy.py): production refuses a
signing key or provider credential that the repository shows or that is too weak; outside
production every process of an install reads one key generated into its var dir."""

from __future__ import annotations

import os
import random
import re
import secrets
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from shared.config import SERVICES, load_settings
from shared.secret_policy import (
    GENERATE_HINT,
    PUBLISHED,
    SHIPPED_FILES,
    check_production_secrets,
    estimated_bits,
    install_key,
    key_problem,
    provider_secret_problem,
    shipped_texts,
)

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAMES = ("RAPPORT_SECRET_KEY", "TWILIO_AUTH_TOKEN", "SMTP_PASSWORD")
STRONG = secrets.token_urlsafe(48)


def _shipped_values() -> set[tuple[str, str]]:
    """(name, value) of every secret the repository's shipped files give a value."""
    found: set[tuple[str, str]] = set()
    for name in SHIPPED_FILES:
        text = (ROOT / name).read_text()
        for key in SECRET_NAMES:
            patterns = (
                rf"\$\{{{key}:-([^}}]*)\}}",  # compose: ${KEY:-default}
                rf"(?m)^\s*{key}=(\S*)",  # .env: KEY=value
                rf"{key}=([^\s`'\"]+)",  # README: KEY=value in prose or a command
                rf"(?m)^\s*{key}:\s*(\S+)",  # YAML: KEY: value
            )
            for pattern in patterns:
                found |= {(key, value) for value in re.findall(pattern, text)}
    secret = yaml.safe_load((ROOT / "deploy" / "k8s" / "secret.yaml").read_text())
    found |= {(k, v) for k, v in secret["stringData"].items() if k in SECRET_NAMES}
    # Not values: an empty default, "..." or a shell substitution in an example command.
    return {(k, v) for k, v in found if v and not v.startswith(("$", ".", "<"))}


def test_the_repository_ships_placeholders_for_every_kind_of_secret() -> None:
    names = {name for name, _value in _shipped_values()}
    assert names == set(SECRET_NAMES)


@pytest.mark.parametrize(("name", "value"), sorted(_shipped_values()))
def test_every_secret_value_the_repository_ships_is_refused(name: str, value: str) -> None:
    # Refused by the built-in list alone: an installed image carries no repository files.
    if name == "RAPPORT_SECRET_KEY":
        assert key_problem(value, texts=()) is not None
    else:
        assert provider_secret_problem(value, texts=()) is not None
    with pytest.raises(ValueError, match=name):
        check_production_secrets({"RAPPORT_SECRET_KEY": STRONG, name: value}, texts=())


def test_a_value_found_in_the_checkout_is_refused_before_the_list_knows_it() -> None:
    text = "RAPPORT_SECRET_KEY=" + "Zq8" + STRONG[3:]  # as if a README example showed it
    assert key_problem("Zq8" + STRONG[3:], texts=[text]) == (
        "is a value published in Rapport's repository, so anyone can sign tokens with it"
    )
    assert shipped_texts(), "the checkout's shipped files are read"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "is not set"),
        ("change-me", "published"),
        ("too-short-but-random-9f3Kq", "shorter than 32"),
        ("ab" * 24, "pattern"),
        ("x7Kp2" * 10, "pattern"),
        ("".join(chr(ord("!") + i) for i in range(60)), "pattern"),  # !"#$%&'()*+,-./0123…
        ("s3cret-" + "k" * 40, "pattern"),
        ("".join(random.Random(7).choices("abc", k=60)), "entropy"),  # about 95 bits
    ],
)
def test_weak_signing_keys_are_refused(value: str, problem: str) -> None:
    found = key_problem(value, texts=())
    assert found is not None and problem in found


# Generated inside the test, not in its id: parallel workers must collect the same tests.
@pytest.mark.parametrize(
    "make",
    [
        lambda: STRONG,
        lambda: secrets.token_urlsafe(32),
        lambda: secrets.token_hex(32),
        lambda: secrets.token_urlsafe(24) + secrets.token_hex(8),
    ],
    ids=["strong", "urlsafe", "hex", "mixed"],
)
def test_random_signing_keys_are_accepted(make: Callable[[], str]) -> None:
    value = make()
    assert key_problem(value, texts=shipped_texts()) is None
    assert estimated_bits(value) >= 128


def test_provider_credentials_are_refused_when_published_not_for_their_format() -> None:
    twilio_token = secrets.token_hex(16)  # what Twilio issues: 32 hex digits
    assert provider_secret_problem(twilio_token, texts=shipped_texts()) is None
    assert provider_secret_problem("change-me-twilio-auth-token", texts=()) is not None
    assert provider_secret_problem("pw", texts=()) is not None
    env = {"RAPPORT_SECRET_KEY": STRONG, "TWILIO_AUTH_TOKEN": twilio_token, "SMTP_PASSWORD": ""}
    check_production_secrets(env, texts=shipped_texts())  # unset SMTP password: no login


def test_the_refusal_names_every_problem_and_never_the_values() -> None:
    env = {"RAPPORT_SECRET_KEY": "s3cret-" + "k" * 40, "SMTP_PASSWORD": "change-me"}
    with pytest.raises(ValueError) as refused:
        check_production_secrets(env, texts=())
    message = str(refused.value)
    assert "RAPPORT_SECRET_KEY" in message and "SMTP_PASSWORD" in message
    assert GENERATE_HINT in message
    assert env["RAPPORT_SECRET_KEY"] not in message and "change-me" not in message


@pytest.mark.parametrize("name", SERVICES)
def test_production_settings_refuse_the_published_and_accept_a_generated_key(name: str) -> None:
    env = {"RAPPORT_PRODUCTION": "1", "RAPPORT_SECRET_KEY": "change-me-to-a-long-random-string"}
    with pytest.raises(ValueError, match="RAPPORT_SECRET_KEY is a value published"):
        load_settings(name, env)
    assert load_settings(name, {**env, "RAPPORT_SECRET_KEY": STRONG}).secret_key == STRONG


def test_production_never_generates_a_key(tmp_path: Path) -> None:
    env = {"RAPPORT_PRODUCTION": "1", "RAPPORT_VAR_DIR": str(tmp_path)}
    with pytest.raises(ValueError, match="RAPPORT_SECRET_KEY is not set"):
        load_settings("scheduler", env)
    assert not list(tmp_path.iterdir())


# --- the per-install key outside production -----------------------------------------------------


def test_an_install_generates_its_key_once_and_keeps_it_private(tmp_path: Path) -> None:
    var = tmp_path / "var"
    key = install_key(var)
    assert len(key) == 64 and key_problem(key, texts=shipped_texts()) is None
    assert install_key(var) == key
    assert stat.S_IMODE((var / "secret_key").stat().st_mode) == 0o600
    assert sorted(p.name for p in var.iterdir()) == ["secret_key"], "no staging file left"
    assert install_key(tmp_path / "other") != key, "each install has its own"


def test_every_service_of_an_install_signs_with_the_same_key(tmp_path: Path) -> None:
    env = {"RAPPORT_VAR_DIR": str(tmp_path)}
    keys = {load_settings(name, env).secret_key for name in SERVICES}
    assert keys == {(tmp_path / "secret_key").read_text().strip()}
    assert keys.pop() not in repr(load_settings("billing", env)), "settings never show the key"


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    script = (
        "import sys, time; from pathlib import Path; from shared.secret_policy import install_key;"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()));"
        "print(install_key(Path(sys.argv[1])))"
    )
    start = f"{__import__('time').time() + 1.5:.3f}"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path), start],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        for _ in range(8)
    ]
    keys = {run.communicate(timeout=60)[0].strip() for run in runs}
    assert all(run.returncode == 0 for run in runs)
    assert keys == {(tmp_path / "secret_key").read_text().strip()}
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]


def test_outside_production_an_unset_or_empty_key_means_the_install_key(tmp_path: Path) -> None:
    env = {"RAPPORT_VAR_DIR": str(tmp_path), "RAPPORT_SECRET_KEY": ""}
    assert load_settings("notifier", env).secret_key == install_key(tmp_path)
    assert load_settings("notifier", {**env, "RAPPORT_SECRET_KEY": STRONG}).secret_key == STRONG


def test_no_signing_key_is_a_constant_in_the_code() -> None:
    sources = [p.read_text() for p in (ROOT / "shared").rglob("*.py")]
    sources += [p.read_text() for p in (ROOT / "services").rglob("*.py")]
    for value in PUBLISHED:
        if len(value) >= 16:
            assert not any(value in s for s in sources if "PUBLISHED = frozenset" not in s), value
