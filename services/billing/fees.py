"""Fee and cancellation-policy rules on plain data: what a session, a late cancellation and a
no-show cost. Money is an integer number of minor units; nothing here touches a database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ChargeKind = Literal["session", "late_cancellation_fee", "no_show_fee"]
FeeRuleKind = Literal["none", "fixed", "percent"]
FEE_KINDS: tuple[ChargeKind, ...] = ("late_cancellation_fee", "no_show_fee")


@dataclass(frozen=True)
class FeeRule:
    """A cancellation or no-show fee: nothing, a fixed amount, or a percentage of the session."""

    kind: FeeRuleKind = "none"
    value: int = 0  # minor units when fixed, whole percent (0-100) when percent

    def amount(self, session_fee_minor: int) -> int:
        if self.kind == "fixed":
            return self.value
        if self.kind == "percent":
            # Round half up to the minor unit: 15% of 16 667 cents is 2 500, not 2 500.05.
            return (session_fee_minor * self.value + 50) // 100
        return 0


@dataclass(frozen=True)
class CancellationPolicy:
    late_cancellation: FeeRule = FeeRule()
    no_show: FeeRule = FeeRule()


@dataclass(frozen=True)
class Charge:
    kind: ChargeKind
    amount_minor: int


def session_fee(standard_minor: int, practitioner_override_minor: int | None) -> int:
    """A practitioner's own fee for a service type wins over the practice's standard fee."""
    return standard_minor if practitioner_override_minor is None else practitioner_override_minor


def spread_package(package_minor: int, sessions: int) -> list[int]:
    """A course's package price spread over its sessions: equal shares rounded down, and the
    cents left over on the first session, so the lines always add up to the package price."""
    share, remainder = divmod(package_minor, sessions)
    return [share + remainder] + [share] * (sessions - 1)


def course_line_amount(
    package_minor: int | None, package_sessions: int | None, index: int, session_fee_minor: int
) -> int:
    """The ``index``-th (0-based, in the order billing saw them) session of a course: its share
    of the package, or the ordinary session fee once the package's sessions are used up."""
    if package_minor is None or not package_sessions or index >= package_sessions:
        return session_fee_minor
    return spread_package(package_minor, package_sessions)[index]


def charge_for(
    status: str,
    policy: CancellationPolicy,
    session_fee_minor: int,
    *,
    cancelled_by: str | None = None,
    late: bool = False,
) -> Charge | None:
    """What an appointment in ``status`` should cost the client, or None for nothing.

    A cancellation by the practice never costs the client anything; a timely cancellation by
    the client neither. A late cancellation or a no-show replaces the session (a session that did
    not take place is never billed under its CPT code) with the policy's fee, if it has one.
    """
    if status == "cancelled":
        if cancelled_by != "client" or not late:
            return None
        amount = policy.late_cancellation.amount(session_fee_minor)
        return Charge("late_cancellation_fee", amount) if amount > 0 else None
    if status == "no_show":
        amount = policy.no_show.amount(session_fee_minor)
        return Charge("no_show_fee", amount) if amount > 0 else None
    return Charge("session", session_fee_minor)


def needs_session_fee(
    status: str, policy: CancellationPolicy, cancelled_by: str | None, late: bool = False
) -> bool:
    """Whether working out the charge needs the fee schedule (a fixed fee or nothing does not)."""
    if status == "cancelled":
        return cancelled_by == "client" and late and policy.late_cancellation.kind == "percent"
    if status == "no_show":
        return policy.no_show.kind == "percent"
    return True
