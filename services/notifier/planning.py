"""Reminder planning on plain data: when each reminder is due, in the client's time zone,
outside quiet hours there, never after the session."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

# Set when a committed transaction planned a message that is already due (a confirmation, a
# cancellation notice): the dispatcher in this process starts a round at once instead of at its
# next interval. Other processes' dispatchers find it at their next round, as before.
due_now = threading.Event()


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
    quiet: QuietHours | None = QuietHours(),
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


def too_late(
    starts_at: datetime,
    recipient: Recipient,
    now: datetime,
    policy: tuple[Rule, ...] = DEFAULT_POLICY,
    quiet: QuietHours | None = QuietHours(),
) -> list[Planned]:
    """The reminders ``plan`` leaves out because they would already have been due: booked 30
    hours ahead, the 48-hour email. The desk is told, so that it need not wonder."""
    if starts_at <= now:
        return []
    zone = ZoneInfo(recipient.time_zone)
    return [
        Planned(rule.kind, rule.channel, due)
        for rule in policy
        if rule.before is not None
        and rule.channel in recipient.channels
        and (due := _before_quiet(starts_at - rule.before, zone, quiet)) < now
    ]


def _before_quiet(due: datetime, zone: ZoneInfo, quiet: QuietHours | None) -> datetime:
    """Move a due time inside quiet hours back to the last minute before they began."""
    local = due.astimezone(zone)
    if quiet is None or not quiet.contains(local.time()):
        return due
    day = local.date() if local.time() >= quiet.start else local.date() - timedelta(days=1)
    began = datetime.combine(day, quiet.start, tzinfo=zone)
    return (began - timedelta(minutes=1)).astimezone(due.tzinfo)


def _after_quiet(due: datetime, zone: ZoneInfo, quiet: QuietHours | None) -> datetime:
    """Hold a message written during quiet hours until they end."""
    local = due.astimezone(zone)
    if quiet is None or not quiet.contains(local.time()):
        return due
    day = local.date() if local.time() < quiet.end else local.date() + timedelta(days=1)
    return datetime.combine(day, quiet.end, tzinfo=zone).astimezone(due.tzinfo)


@dataclass(frozen=True)
class SmsCaps:
    """Reminder SMS per client per local calendar day and ISO week. Confirmations and notices
    are answers to something the practice just did, so they neither count nor get dropped."""

    per_day: int = 1
    per_week: int = 3


def counts_against_caps(kind: str, channel: str) -> bool:
    return kind == "reminder" and channel == "sms"


def apply_sms_caps(
    planned: list[Planned], already: list[datetime], time_zone: str, caps: SmsCaps = SmsCaps()
) -> tuple[list[Planned], list[Planned]]:
    """Split ``planned`` into (kept, dropped) given the client's other capped SMS due times."""
    zone = ZoneInfo(time_zone)
    taken = [due.astimezone(zone).date() for due in already]
    kept: list[Planned] = []
    dropped: list[Planned] = []
    for p in sorted(planned, key=lambda p: p.due_at):
        if not counts_against_caps(p.kind, p.channel):
            kept.append(p)
            continue
        day = p.due_at.astimezone(zone).date()
        same_day = sum(1 for d in taken if d == day)
        same_week = sum(1 for d in taken if d.isocalendar()[:2] == day.isocalendar()[:2])
        if same_day >= caps.per_day or same_week >= caps.per_week:
            dropped.append(p)
        else:
            taken.append(day)
            kept.append(p)
    return sorted(kept, key=lambda p: (p.due_at, p.channel)), dropped


def plan_notice(
    kind: str,
    channels: tuple[str, ...],
    recipient: Recipient,
    now: datetime,
    starts_at: datetime,
    quiet: QuietHours | None = QuietHours(),
) -> Planned | None:
    """One notice (reschedule or cancellation) on the first channel the client can use. Held
    until quiet hours end unless that would be after the session: then it goes now, because
    the client would otherwise turn up for it (or miss it)."""
    channel = next((c for c in channels if c in recipient.channels), None)
    if channel is None or starts_at <= now:
        return None
    due = _after_quiet(now, ZoneInfo(recipient.time_zone), quiet)
    return Planned(kind, channel, due if due < starts_at else now)


def other_channel(channel: str, recipient: Recipient) -> str | None:
    """Where a message that failed for good may go instead."""
    return next((c for c in sorted(recipient.channels) if c != channel), None)


def after_quiet_hours(at: datetime, time_zone: str, quiet: QuietHours | None) -> datetime:
    """``at``, or the end of the quiet hours it falls in, in the recipient's zone."""
    return _after_quiet(at, ZoneInfo(time_zone), quiet)


# Other planners (check-ins) move a time out of quiet hours the same way reminders do.
before_quiet = _before_quiet
after_quiet = _after_quiet
