"""Insurance authorization rules on plain data: which sessions an authorization covers, and
when it is nearly used up (its last two units, or its last fourteen days)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

NEARING_UNITS = 2
NEARING_DAYS = 14


@dataclass(frozen=True)
class Coverage:
    cpt_codes: tuple[str, ...]
    valid_from: date
    valid_to: date
    sessions_authorized: int


def covers(coverage: Coverage, service_date: date, cpt_code: str | None) -> bool:
    """Whether a session of this CPT code on this date is one the payer authorized."""
    return (
        cpt_code is not None
        and cpt_code in coverage.cpt_codes
        and coverage.valid_from <= service_date <= coverage.valid_to
    )


def nearing_end_reasons(
    units_used: int, sessions_authorized: int, valid_to: date, today: date
) -> list[str]:
    reasons = []
    if sessions_authorized - units_used <= NEARING_UNITS:
        reasons.append("last_units")
    if (valid_to - today).days <= NEARING_DAYS:
        reasons.append("ends_soon")
    return reasons
