"""Secrets that cannot be the published ones: in production, refuse a token-signing key (and
provider credentials) that Rapport's own repository shows or that is too weak to be secret;
outside production, generate the signing key once per install and keep it in the var dir."""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

# Every value the repository has shipped for a secret (docker-compose.yml, .env.example,
# deploy/k8s/secret.yaml, the README examples, former code defaults). An install copied from
# them must not run for real. tests/unit/test_secret_policy.py keeps this list complete.
PUBLISHED = frozenset({
    "change-me",
    "change-me-to-a-long-random-string",
    "change-me-twilio-auth-token",
    "dev-only-compose-secret-change-me-in-dot-env",
    "dev-only-secret-change-me-0123456789abcdef",
})  # fmt: skip
# Where the repository shows secrets; read too when this code runs from a checkout, so a value
# added there is refused before this list catches up.
SHIPPED_FILES = (
    "docker-compose.yml", ".env.example", "deploy/k8s/secret.yaml", "README.md",
    "deploy/README.md", "deploy/k8s/README.md",
)  # fmt: skip
CHECKOUT = Path(__file__).resolve().parents[1]

SIGNING_KEY = "RAPPORT_SECRET_KEY"
# Credentials a provider issues: refused when published or trivially short, but not held to
# the signing key's entropy (a Twilio auth token is 32 hex digits, 128 bits).
PROVIDER_SECRETS = ("TWILIO_AUTH_TOKEN", "SMTP_PASSWORD")
MIN_KEY_LENGTH = 32
MIN_KEY_BITS = 128.0
MIN_PROVIDER_LENGTH = 8
KEY_FILE = "secret_key"
GENERATE_HINT = "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


@cache
def shipped_texts(root: Path = CHECKOUT) -> tuple[str, ...]:
    texts = []
    for name in SHIPPED_FILES:
        try:
            texts.append((root / name).read_text(encoding="utf-8"))
        except OSError:
            continue  # an installed image carries the code only
    return tuple(texts)


def is_published(value: str, texts: Iterable[str]) -> bool:
    # Shorter values are found in any prose; they are refused for their length anyway.
    long_enough = len(value) >= MIN_PROVIDER_LENGTH
    return value in PUBLISHED or (long_enough and any(value in text for text in texts))


def estimated_bits(value: str) -> float:
    """Length times the Shannon entropy of the value's own characters: a pessimistic estimate
    for random strings, and near zero for repetitive ones."""
    counts = Counter(value)
    n = len(value)
    return -sum(c * math.log2(c / n) for c in counts.values()) if n else 0.0


def _periodic(value: str) -> bool:
    n = len(value)
    return any(value == (value[:p] * (n // p + 1))[:n] for p in range(1, n // 2 + 1))


def _progression(value: str) -> bool:
    """Mostly runs like abcdef, 13579 or zzzz (equal steps between neighbours)."""
    steps = [ord(b) - ord(a) for a, b in zip(value, value[1:], strict=False)]
    same = sum(1 for s, t in zip(steps, steps[1:], strict=False) if s == t)
    return len(steps) > 1 and same >= (len(steps) - 1) / 2


def key_problem(value: str, texts: Iterable[str] = ()) -> str | None:
    """Why ``value`` cannot sign tokens in production, or None. Never echoes the value."""
    if not value:
        return "is not set"
    if is_published(value, texts):
        return "is a value published in Rapport's repository, so anyone can sign tokens with it"
    if len(value) < MIN_KEY_LENGTH:
        return f"is shorter than {MIN_KEY_LENGTH} characters"
    if _periodic(value) or _progression(value):
        return "is a repeated or simple pattern"
    if estimated_bits(value) < MIN_KEY_BITS:
        return f"has too little entropy (under {MIN_KEY_BITS:.0f} bits estimated)"
    return None


def provider_secret_problem(value: str, texts: Iterable[str] = ()) -> str | None:
    if is_published(value, texts):
        return "is a placeholder published in Rapport's repository"
    if len(value) < MIN_PROVIDER_LENGTH or _periodic(value):
        return "is too short or a repeated pattern to be a real credential"
    return None


def check_production_secrets(env: Mapping[str, str], texts: Iterable[str] | None = None) -> None:
    """Raise ValueError naming every secret production cannot run with (never their values)."""
    texts = shipped_texts() if texts is None else tuple(texts)
    problems = []
    key = key_problem(env.get(SIGNING_KEY, ""), texts)
    if key:
        problems.append(f"{SIGNING_KEY} {key}; {GENERATE_HINT}")
    for name in PROVIDER_SECRETS:
        value = env.get(name, "")
        problem = provider_secret_problem(value, texts) if value else None
        if problem:
            problems.append(f"{name} {problem}; set the one your provider issued")
    if problems:
        raise ValueError("refusing to run in production: " + "; ".join(problems))


def install_key(var_dir: Path) -> str:
    """This install's signing key, generated on first use into ``var_dir/secret_key`` (mode
    0600). Every process of the install (the embedded default, gunicorn workers, workers,
    tests' runtimes) reads the same file; processes starting together cannot create two, since
    the file appears whole through an atomic link and the loser reads the winner's."""
    path = var_dir / KEY_FILE
    key = _read_key(path)
    if key:
        return key
    var_dir.mkdir(parents=True, exist_ok=True)
    fd, staged = tempfile.mkstemp(dir=var_dir, prefix=f".{KEY_FILE}.")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process got there first
            os.link(staged, path)
    finally:
        os.unlink(staged)
    for _ in range(50):
        key = _read_key(path)
        if key:
            return key
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty; delete it to generate a new key")


def _read_key(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None
