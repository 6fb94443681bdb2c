"""Ways a message leaves the notifier: Twilio SMS, SMTP email, or the sandbox (embedded default).

Every channel answers ``send(message) -> provider id`` or raises TransientFailure (worth another
try later) or PermanentFailure (another try would fail the same way)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class OutboundMessage:
    message_id: str
    channel: str
    to: str
    text: str
    subject: str | None = None
    html: str | None = None
    calendar: bytes | None = None  # an iCalendar document (METHOD REQUEST or CANCEL)
    written_at: datetime | None = None  # the application clock's now, for the Date: header


class SendFailure(Exception):
    def __init__(self, reason: str, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class TransientFailure(SendFailure):
    """Timeouts, 5xx, 429, carrier congestion: retried with back-off, up to a limit."""


class PermanentFailure(SendFailure):
    """An invalid or unsubscribed number, a refused address: recorded, never retried."""


class Channel(Protocol):
    name: str  # provider name in the message log: twilio, smtp, sandbox

    def send(self, message: OutboundMessage) -> str: ...


@dataclass(frozen=True)
class InDoubt:
    """A message marked ``sending`` whose worker stopped before recording the provider's answer."""

    message_id: str
    to: str
    since: datetime  # when it was marked sending: the provider cannot have it from before
    body_digest: str | None
    known_ids: frozenset[str]  # provider ids the message log already holds for ``to``


class Undecided(Exception):
    """The provider cannot say whether it has the message (or cannot be asked): the desk decides."""


class Settles(Protocol):
    """A channel that can tell whether a message in doubt reached the provider."""

    def look_up(self, doubt: InDoubt) -> str | None:
        """The provider id of the message if the provider has it, None if it certainly has not;
        raises Undecided otherwise."""
        ...


def body_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def configured(extra: Mapping[str, str]) -> dict[str, str]:
    """Which provider each channel uses, from the environment the runtime was given."""
    return {
        "sms": "twilio" if extra.get("TWILIO_ACCOUNT_SID") else "sandbox",
        "email": "smtp" if extra.get("SMTP_HOST") else "sandbox",
    }
