"""Reminder planning on plain data: when each reminder is due, in the client's time zone,
outside quiet hours there, never after the session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Rule:
    kind: str
    channel: str
    before: timedelta | None  # None: at booking (confirmation)


@dataclass(frozen=True)
class QuietHours:
    start: time = time(21, 0)
    end: time = time(8, 0)

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


DEFAULT_POLICY: tuple[Rule, ...] = (
    Rule("confirmation", "email", None),
    Rule("confirmation", "sms", None),
    Rule("reminder", "email", timedelta(hours=48)),
    Rule("reminder", "sms", timedelta(hours=24)),
)


@dataclass(frozen=True)
class Recipient:
    time_zone: str
    channels: frozenset[str]  # preferred, consented and reachable


@dataclass(frozen=True)
class Planned:
    kind: str
    channel: str
    due_at: datetime


def plan(
    starts_at: datetime,
    recipient: Recipient,
    now: datetime,
    policy: tuple[Rule, ...] = DEFAULT_POLICY,
    quiet: QuietHours = QuietHours(),
) -> list[Planned]:
    zone = ZoneInfo(recipient.time_zone)
    planned: list[Planned] = []
    for rule in policy:
        if rule.channel not in recipient.channels:
            continue
        if rule.before is None:
            due = _after_quiet(now, zone, quiet)
        else:
            due = _before_quiet(starts_at - rule.before, zone, quiet)
            if due < now:
                continue  # booked too late for this one; a later reminder still covers it
        if due < starts_at:
            planned.append(Planned(rule.kind, rule.channel, due))
    return sorted(planned, key=lambda p: (p.due_at, p.channel))


def _before_quiet(due: datetime, zone: ZoneInfo, quiet: QuietHours) -> datetime:
    """Move a due time inside quiet hours back to the last minute before they began."""
    local = due.astimezone(zone)
    if not quiet.contains(local.time()):
        return due
    day = local.date() if local.time() >= quiet.start else local.date() - timedelta(days=1)
    began = datetime.combine(day, quiet.start, tzinfo=zone)
    return (began - timedelta(minutes=1)).astimezone(due.tzinfo)


def _after_quiet(due: datetime, zone: ZoneInfo, quiet: QuietHours) -> datetime:
    """Hold a message written during quiet hours until they end."""
    local = due.astimezone(zone)
    if not quiet.contains(local.time()):
        return due
    day = local.date() if local.time() < quiet.end else local.date() + timedelta(days=1)
    return datetime.combine(day, quiet.end, tzinfo=zone).astimezone(due.tzinfo)
