"""Insurance authorization rules on plain data: what an authorization covers, when it is nearly
used up (billing), and the warnings a course booking shows (scheduler)."""

from __future__ import annotations

from datetime import date, timedelta

from services.billing.authorizations import Coverage, covers, nearing_end_reasons
from services.scheduler.authorizations import authorization_warnings

COVERAGE = Coverage(("90834", "90837"), date(2027, 3, 1), date(2027, 5, 31), 10)


def test_an_authorization_covers_its_codes_between_its_dates() -> None:
    assert covers(COVERAGE, date(2027, 3, 1), "90834")
    assert covers(COVERAGE, date(2027, 5, 31), "90837")
    assert not covers(COVERAGE, date(2027, 6, 1), "90834")
    assert not covers(COVERAGE, date(2027, 2, 28), "90834")
    assert not covers(COVERAGE, date(2027, 4, 1), "90791")
    assert not covers(COVERAGE, date(2027, 4, 1), None)


def test_nearing_its_end_means_the_last_two_units_or_the_last_fourteen_days() -> None:
    valid_to = date(2027, 5, 31)
    assert nearing_end_reasons(7, 10, valid_to, date(2027, 4, 1)) == []
    assert nearing_end_reasons(8, 10, valid_to, date(2027, 4, 1)) == ["last_units"]
    assert nearing_end_reasons(0, 10, valid_to, valid_to - timedelta(days=14)) == ["ends_soon"]
    assert nearing_end_reasons(0, 10, valid_to, valid_to - timedelta(days=15)) == []
    assert nearing_end_reasons(10, 10, valid_to, valid_to) == ["last_units", "ends_soon"]


def test_a_course_is_warned_for_sessions_outside_the_dates_or_beyond_the_count() -> None:
    mondays = [date(2027, 5, 3) + timedelta(weeks=i) for i in range(6)]  # to 7 June
    warnings = authorization_warnings(3, date(2027, 3, 1), date(2027, 5, 31), mondays)
    assert warnings == [(4, "beyond_count"), (5, "beyond_count"), (6, "outside_dates")]
    assert authorization_warnings(10, date(2027, 3, 1), date(2027, 5, 31), mondays[:2]) == []
