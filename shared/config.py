"""Configuration from environment variables, one prefix per concern (see README)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.secret_policy import check_production_secrets, install_key

SERVICES = ("scheduler", "notifier", "billing")
# Variables a service reads for itself from Settings.extra (providers, the notifier's and
# billing's own knobs, the scheduler's waiting-list loop).
EXTRA_PREFIXES = (
    "TWILIO_",
    "SMTP_",
    "EMAIL_",
    "NOTIFIER_",
    "BILLING_ISSUE_",
    "SCHEDULER_WAITLIST_",
)


def _seconds_list(raw: str) -> tuple[float, ...]:
    values = tuple(float(part) for part in raw.split(",") if part.strip())
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"RAPPORT_RETRY_DELAYS must be positive seconds, got {raw!r}")
    return values


def _flag(raw: str) -> bool:
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    service: str
    database_url: str
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    # From RAPPORT_SECRET_KEY, or outside production generated once per install (var dir).
    secret_key: str = field(default="", repr=False)
    public_url: str = "http://127.0.0.1:8000"
    queue_type: str = "quorum"
    retry_delays: tuple[float, ...] = (1.0, 10.0, 60.0, 600.0)
    max_attempts: int = 5
    # Twice the batch: while one batch is applied, the next has already arrived.
    prefetch_count: int = 100
    consume_batch: int = 50
    confirm_timeout: float = 10.0
    heartbeat: int = 30
    connect_timeout: float = 5.0
    relay_batch_size: int = 100
    relay_interval: float = 0.2
    relay_listen: bool = True
    relay_safety_interval: float = 5.0
    exchange: str = "rapport.events"
    log_level: str = "INFO"
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_memory_broker(self) -> bool:
        return self.broker_url.startswith("memory://")

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


def load_settings(service: str, env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings of one service from the environment (or the mapping given)."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    env = os.environ if env is None else env
    prefix = service.upper()
    var_dir = env.get("RAPPORT_VAR_DIR", "var")
    production = _flag(env.get("RAPPORT_PRODUCTION", ""))
    if production:
        check_production_secrets(env)
    settings = Settings(
        service=service,
        database_url=env.get(f"{prefix}_DATABASE_URL", f"sqlite:///{var_dir}/{service}.db"),
        broker_url=env.get("RAPPORT_BROKER_URL", Settings.broker_url),
        secret_key=env.get("RAPPORT_SECRET_KEY") or install_key(Path(var_dir)),
        public_url=env.get("RAPPORT_PUBLIC_URL", Settings.public_url).rstrip("/"),
        queue_type=env.get("RAPPORT_QUEUE_TYPE", Settings.queue_type),
        retry_delays=_seconds_list(env["RAPPORT_RETRY_DELAYS"])
        if env.get("RAPPORT_RETRY_DELAYS")
        else Settings.retry_delays,
        max_attempts=int(env.get("RAPPORT_MAX_ATTEMPTS", Settings.max_attempts)),
        prefetch_count=int(env.get("RAPPORT_PREFETCH", Settings.prefetch_count)),
        consume_batch=int(env.get("RAPPORT_CONSUME_BATCH", Settings.consume_batch)),
        confirm_timeout=float(env.get("RAPPORT_CONFIRM_TIMEOUT", Settings.confirm_timeout)),
        heartbeat=int(env.get("RAPPORT_HEARTBEAT", Settings.heartbeat)),
        relay_batch_size=int(env.get("RAPPORT_RELAY_BATCH", Settings.relay_batch_size)),
        relay_interval=float(env.get("RAPPORT_RELAY_INTERVAL", Settings.relay_interval)),
        relay_listen=_flag(env.get("RAPPORT_RELAY_LISTEN", "1")),
        relay_safety_interval=float(
            env.get("RAPPORT_RELAY_SAFETY_INTERVAL", Settings.relay_safety_interval)
        ),
        exchange=env.get("RAPPORT_EXCHANGE", Settings.exchange),
        log_level=env.get("RAPPORT_LOG_LEVEL", Settings.log_level),
        extra={k: v for k, v in env.items() if k.startswith(EXTRA_PREFIXES)},
    )
    if settings.queue_type not in {"quorum", "classic"}:
        raise ValueError("RAPPORT_QUEUE_TYPE must be 'quorum' or 'classic'")
    if settings.max_attempts < 1:
        raise ValueError("RAPPORT_MAX_ATTEMPTS must be at least 1")
    if settings.consume_batch < 1:
        raise ValueError("RAPPORT_CONSUME_BATCH must be at least 1")
    return settings
