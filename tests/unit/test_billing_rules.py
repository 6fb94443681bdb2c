"""Billing's pure rules: session fees and practitioners' own fees, course packages, the
cancellation and no-show policy, billing periods, invoice states, payments and ICD-10 codes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import partial

import pytest

from services.billing.fees import (
    CancellationPolicy,
    Charge,
    FeeRule,
    charge_for,
    course_line_amount,
    needs_session_fee,
    session_fee,
    spread_package,
)
from services.billing.invoicing import (
    LineAmount,
    aging_bucket,
    open_amount,
    payment_problem,
    refund_problem,
    state_after_change,
    total_of,
    valid_icd10,
)
from services.billing.money import format_money
from services.billing.periods import period_of, practice_day

POLICY = CancellationPolicy(
    late_cancellation=FeeRule("percent", 50), no_show=FeeRule("fixed", 8_000)
)


def test_a_practitioners_own_fee_wins_over_the_standard_fee() -> None:
    assert session_fee(16_000, None) == 16_000
    assert session_fee(16_000, 18_500) == 18_500
    assert session_fee(16_000, 0) == 0


def test_a_package_is_spread_evenly_with_the_remainder_on_the_first_session() -> None:
    assert spread_package(200_000, 12) == [16_674] + [16_666] * 11
    assert sum(spread_package(200_000, 12)) == 200_000
    assert spread_package(100, 3) == [34, 33, 33]
    assert spread_package(90_000, 1) == [90_000]


def test_sessions_beyond_the_package_cost_the_session_fee() -> None:
    assert course_line_amount(100, 3, 0, 16_000) == 34
    assert course_line_amount(100, 3, 2, 16_000) == 33
    assert course_line_amount(100, 3, 3, 16_000) == 16_000
    assert course_line_amount(None, None, 0, 16_000) == 16_000


def test_fee_rules_fixed_percent_and_none() -> None:
    assert FeeRule("fixed", 5_000).amount(16_000) == 5_000
    assert FeeRule("percent", 50).amount(16_000) == 8_000
    assert FeeRule("percent", 15).amount(16_667) == 2_500  # 2 500.05 rounds to 2 500
    assert FeeRule("percent", 50).amount(16_665) == 8_333  # 8 332.5 rounds half up
    assert FeeRule("none", 99).amount(16_000) == 0


def test_a_booked_or_completed_session_costs_the_session_fee() -> None:
    for status in ("booked", "confirmed", "checked_in", "completed"):
        assert charge_for(status, POLICY, 16_000) == Charge("session", 16_000)


def test_a_late_cancellation_by_the_client_costs_the_late_cancellation_fee() -> None:
    charge = charge_for("cancelled", POLICY, 16_000, cancelled_by="client", late=True)
    assert charge == Charge("late_cancellation_fee", 8_000)


@pytest.mark.parametrize(
    ("cancelled_by", "late"), [("practice", True), ("practice", False), ("client", False)]
)
def test_a_cancellation_by_the_practice_or_in_time_costs_nothing(
    cancelled_by: str, late: bool
) -> None:
    assert charge_for("cancelled", POLICY, 16_000, cancelled_by=cancelled_by, late=late) is None


def test_a_no_show_costs_the_no_show_fee_instead_of_the_session() -> None:
    assert charge_for("no_show", POLICY, 16_000) == Charge("no_show_fee", 8_000)


def test_without_a_policy_fee_a_late_cancellation_or_no_show_costs_nothing() -> None:
    lenient = CancellationPolicy()
    assert charge_for("no_show", lenient, 16_000) is None
    assert charge_for("cancelled", lenient, 16_000, cancelled_by="client", late=True) is None


def test_only_a_percentage_fee_needs_the_fee_schedule() -> None:
    assert needs_session_fee("booked", POLICY, None)
    assert needs_session_fee("cancelled", POLICY, "client", late=True)
    assert not needs_session_fee("cancelled", POLICY, "client", late=False)
    assert not needs_session_fee("cancelled", POLICY, "practice", late=True)
    assert not needs_session_fee("no_show", POLICY, None)


def test_totals_ignore_waived_and_void_lines() -> None:
    lines = [LineAmount("active", 16_000), LineAmount("void", 16_000), LineAmount("waived", 800)]
    assert total_of(lines) == 16_000


def test_invoice_states_follow_payments() -> None:
    assert state_after_change("issued", 16_000, 0, True) == "issued"
    assert state_after_change("issued", 16_000, 6_000, True) == "partly_paid"
    assert state_after_change("partly_paid", 16_000, 16_000, True) == "paid"
    assert state_after_change("paid", 16_000, 10_000, True) == "partly_paid"  # after a refund
    assert state_after_change("paid", 24_000, 16_000, True) == "partly_paid"  # a fee was added


def test_an_invoice_without_lines_is_void_and_a_draft_stays_a_draft() -> None:
    assert state_after_change("issued", 0, 0, False) == "void"
    assert state_after_change("paid", 0, 16_000, False) == "void"
    assert state_after_change("void", 16_000, 0, True) == "void"
    assert state_after_change("draft", 16_000, 0, True) == "draft"


def test_an_invoice_of_corrections_below_zero_is_a_credit_left_issued() -> None:
    assert state_after_change("issued", -8000, 0, True) == "issued"
    assert state_after_change("issued", 0, 0, True) == "paid"


def test_a_day_is_invoiced_at_the_practices_next_midnight() -> None:
    zone = "America/New_York"
    period = period_of("after_session", date(2027, 3, 13), zone)
    # The night of the change to summer time: midnight is still EST (UTC-5).
    assert period.key == "2027-03-13"
    assert period.issue_after == datetime(2027, 3, 14, 5, 0, tzinfo=UTC)
    summer = period_of("after_session", date(2027, 3, 14), zone)
    assert summer.issue_after == datetime(2027, 3, 15, 4, 0, tzinfo=UTC)


def test_a_month_is_invoiced_on_the_first_of_the_next_in_the_practices_zone() -> None:
    zone = "America/New_York"
    december = period_of("monthly", date(2026, 12, 31), zone)
    assert december.key == "2026-12"
    assert december.issue_after == datetime(2027, 1, 1, 5, 0, tzinfo=UTC)
    assert period_of("monthly", date(2028, 2, 29), zone).issue_after == datetime(
        2028, 3, 1, 5, 0, tzinfo=UTC
    )


def test_the_practices_day_is_its_own_not_utcs() -> None:
    late_evening = datetime(2027, 1, 1, 3, 30, tzinfo=UTC)  # 22:30 on 31 December in New York
    assert practice_day(late_evening, "America/New_York") == date(2026, 12, 31)


def test_payments_are_refused_on_drafts_void_invoices_and_beyond_what_is_owed() -> None:
    assert payment_problem("issued", 16_000, 0, 16_000) == ""
    assert "draft" in payment_problem("draft", 16_000, 0, 100)
    assert "void" in payment_problem("void", 16_000, 0, 100)
    usd = partial(format_money, currency="USD")
    assert "$60.00 still owed" in payment_problem("partly_paid", 16_000, 10_000, 7_000, usd)
    assert "paid in full" in payment_problem("paid", 16_000, 16_000, 1)
    assert refund_problem(5_000, 5_000) == ""
    assert "$50.00 paid" in refund_problem(5_000, 5_001, usd)


@pytest.mark.parametrize("code", ["F32.1", "F41.9", "F43.10", "Z63.0", "F33", "S72.001A"])
def test_valid_icd10_codes(code: str) -> None:
    assert valid_icd10(code)


@pytest.mark.parametrize("code", ["", "f32.1", "U07.1", "F3", "32.1", "F32.12345", "F32-1"])
def test_invalid_icd10_codes(code: str) -> None:
    assert not valid_icd10(code)


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (0, "current"),
        (30, "current"),
        (31, "days_31_60"),
        (60, "days_31_60"),
        (61, "days_61_90"),
        (90, "days_61_90"),
        (91, "days_over_90"),
    ],
)
def test_open_amounts_age_by_days_since_issue(days: int, bucket: str) -> None:
    assert aging_bucket(days) == bucket


def test_what_is_open_on_an_invoice() -> None:
    assert open_amount("partly_paid", 16_000, 6_000) == 10_000
    assert open_amount("issued", -8_000, 0) == -8_000  # a credit
    assert open_amount("void", 0, 5_000) == -5_000  # paid on a voided invoice: the client's
    assert open_amount("draft", 16_000, 0) == 0  # upcoming, not owed
