"""The notifier's own configuration (NOTIFIER_*), read from the runtime's environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class NotifierSettings:
    # Until the scheduler's first practice.updated arrives (services/notifier/practice.py).
    practice_name: str = "Harbour Street Therapy"
    practice_phone: str = "+1 617 555 0100"
    email_from: str = "reminders@harbourstreet.example"
    dispatch_interval: float = 5.0
    batch_size: int = 50
    sms_per_second: float = 1.0
    send_concurrency: int = 8
    retry_delays: tuple[float, ...] = (30.0, 120.0, 600.0)
    max_send_attempts: int = 4
    sending_timeout: float = 300.0
    # An email left in doubt by a stopped worker cannot be looked up at the SMTP server: resend it
    # (the client may get it twice) only if the practice allows that; else it is ``unknown``.
    resend_email_in_doubt: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NotifierSettings:
        d = cls()
        delays = env.get("NOTIFIER_RETRY_DELAYS")
        return cls(
            practice_name=env.get("NOTIFIER_PRACTICE_NAME", d.practice_name),
            practice_phone=env.get("NOTIFIER_PRACTICE_PHONE", d.practice_phone),
            email_from=env.get("EMAIL_FROM", d.email_from),
            dispatch_interval=float(env.get("NOTIFIER_DISPATCH_INTERVAL", d.dispatch_interval)),
            batch_size=int(env.get("NOTIFIER_DISPATCH_BATCH", d.batch_size)),
            sms_per_second=float(env.get("NOTIFIER_SMS_PER_SECOND", d.sms_per_second)),
            send_concurrency=int(env.get("NOTIFIER_SEND_CONCURRENCY", d.send_concurrency)),
            retry_delays=tuple(float(x) for x in delays.split(",")) if delays else d.retry_delays,
            max_send_attempts=int(env.get("NOTIFIER_MAX_SEND_ATTEMPTS", d.max_send_attempts)),
            sending_timeout=float(env.get("NOTIFIER_SENDING_TIMEOUT", d.sending_timeout)),
            resend_email_in_doubt=env.get("NOTIFIER_RESEND_EMAIL_IN_DOUBT", "").lower()
            in {"1", "true", "yes", "on"},
        )
