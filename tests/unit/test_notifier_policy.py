"""The reminder policy on the wire, SMS caps and notices (services/notifier/policy.py,
planning.py): plain data, no database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.notifier import planning
from services.notifier.planning import (
    Planned,
    QuietHours,
    Recipient,
    SmsCaps,
    apply_sms_caps,
    other_channel,
    plan_notice,
)
from services.notifier.policy import DEFAULT, Policy, PolicyDocument

NEW_YORK = ZoneInfo("America/New_York")
BOTH = frozenset({"sms", "email"})


def ny(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


def sms(due: datetime, kind: str = "reminder") -> Planned:
    return Planned(kind, "sms", due)


# -- policy documents --------------------------------------------------------------------------


def test_default_policy_on_the_wire_uses_iso_8601_hours() -> None:
    wire = DEFAULT.model_dump(mode="json")

    assert [(r["kind"], r["channel"], r["offset"]) for r in wire["rules"]] == [
        ("confirmation", "email", None),
        ("confirmation", "sms", None),
        ("reminder", "email", "PT48H"),
        ("reminder", "sms", "PT24H"),
    ]
    assert wire["quiet_hours"] == {"start": "21:00:00", "end": "08:00:00"}
    assert wire["sms_caps"] == {"per_day": 1, "per_week": 3}
    assert PolicyDocument.model_validate(wire) == DEFAULT


def test_a_policy_document_becomes_planning_rules() -> None:
    document = PolicyDocument.model_validate(
        {
            "rules": [
                {"kind": "reminder", "channel": "sms", "offset": "PT2H"},
                {"kind": "confirmation", "channel": "email"},
            ],
            "quiet_hours": {"start": "22:00", "end": "07:30"},
            "sms_caps": {"per_day": 2, "per_week": 5},
        }
    )

    policy = Policy(document)

    assert [(r.kind, r.channel, r.before) for r in policy.rules] == [
        ("reminder", "sms", timedelta(hours=2)),
        ("confirmation", "email", None),
    ]
    assert [r.kind for r in policy.reminder_rules] == ["reminder"]
    assert policy.quiet == QuietHours(time(22, 0), time(7, 30))
    assert policy.caps == SmsCaps(2, 5)


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "reminder", "channel": "sms"},
        {"kind": "reminder", "channel": "sms", "offset": "PT0S"},
        {"kind": "confirmation", "channel": "sms", "offset": "PT1H"},
        {"kind": "reminder", "channel": "fax", "offset": "PT1H"},
        {"kind": "reminder", "channel": "sms", "offset": "tomorrow"},
    ],
)
def test_rules_that_make_no_sense_are_refused(rule: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        PolicyDocument.model_validate({"rules": [rule]})


# -- caps --------------------------------------------------------------------------------------


def test_second_reminder_sms_on_the_same_local_day_is_dropped() -> None:
    kept, dropped = apply_sms_caps([sms(ny(4, 14, 9)), sms(ny(4, 14, 18))], [], "America/New_York")

    assert kept == [sms(ny(4, 14, 9))]
    assert dropped == [sms(ny(4, 14, 18))]


def test_the_day_is_the_clients_local_day_not_utc() -> None:
    # 20:30 EDT on 14 April is already 15 April in UTC: still the 14th for the client.
    kept, dropped = apply_sms_caps([sms(ny(4, 14, 20, 30))], [ny(4, 14, 8)], "America/New_York")
    assert (kept, dropped) == ([], [sms(ny(4, 14, 20, 30))])

    kept, _ = apply_sms_caps([sms(ny(4, 14, 8))], [ny(4, 13, 20, 59)], "America/New_York")
    assert kept == [sms(ny(4, 14, 8))]


def test_weekly_cap_counts_the_clients_other_appointments_in_the_iso_week() -> None:
    already = [ny(4, 13, 10), ny(4, 14, 10), ny(4, 15, 10)]  # Monday to Wednesday

    kept, dropped = apply_sms_caps(
        [sms(ny(4, 16, 10)), sms(ny(4, 20, 10))], already, "America/New_York"
    )

    assert dropped == [sms(ny(4, 16, 10))]  # a fourth in the week of 13 April
    assert kept == [sms(ny(4, 20, 10))]  # Monday 20 April starts a new week


def test_confirmations_notices_and_email_neither_count_nor_get_dropped() -> None:
    planned = [
        sms(ny(4, 14, 9), "confirmation"),
        sms(ny(4, 14, 9), "cancellation_notice"),
        Planned("reminder", "email", ny(4, 14, 9)),
        sms(ny(4, 14, 10)),
    ]

    kept, dropped = apply_sms_caps(planned, [], "America/New_York")

    assert dropped == []
    assert len(kept) == 4


def test_caps_of_zero_mean_no_reminder_sms_at_all() -> None:
    kept, dropped = apply_sms_caps([sms(ny(4, 14, 9))], [], "America/New_York", SmsCaps(0, 0))
    assert (kept, dropped) == ([], [sms(ny(4, 14, 9))])


# -- notices -----------------------------------------------------------------------------------


def test_one_notice_on_the_first_channel_the_client_can_use() -> None:
    now = ny(4, 14, 12)
    session = ny(4, 20, 15)

    both = plan_notice(
        "cancellation_notice", ("email", "sms"), Recipient("America/New_York", BOTH), now, session
    )
    sms_only = plan_notice(
        "cancellation_notice",
        ("email", "sms"),
        Recipient("America/New_York", frozenset({"sms"})),
        now,
        session,
    )
    nothing = plan_notice(
        "cancellation_notice",
        ("email", "sms"),
        Recipient("America/New_York", frozenset()),
        now,
        session,
    )

    assert both == Planned("cancellation_notice", "email", now)
    assert sms_only == Planned("cancellation_notice", "sms", now)
    assert nothing is None


def test_notice_waits_for_the_end_of_quiet_hours_unless_the_session_comes_first() -> None:
    late = ny(4, 14, 23)
    recipient = Recipient("America/New_York", frozenset({"sms"}))

    later_session = plan_notice("reschedule_notice", ("sms",), recipient, late, ny(4, 16, 15))
    early_session = plan_notice("reschedule_notice", ("sms",), recipient, late, ny(4, 15, 7, 30))

    assert later_session == Planned("reschedule_notice", "sms", ny(4, 15, 8))
    assert early_session == Planned("reschedule_notice", "sms", late)


def test_no_notice_for_a_session_already_past() -> None:
    recipient = Recipient("America/New_York", BOTH)
    assert (
        plan_notice("cancellation_notice", ("sms",), recipient, ny(4, 14, 12), ny(4, 14, 11))
        is None
    )


def test_the_other_channel_is_one_the_client_allows() -> None:
    assert other_channel("sms", Recipient("UTC", BOTH)) == "email"
    assert other_channel("sms", Recipient("UTC", frozenset({"sms"}))) is None


def test_quiet_hours_can_be_switched_off_with_null_and_equal_bounds_are_refused() -> None:
    off = PolicyDocument.model_validate({"rules": [], "quiet_hours": None})
    assert Policy(off).quiet is None
    # A reminder due at 23:30 stays at 23:30; a confirmation written then goes at once.
    late = datetime(2026, 4, 15, 3, 30, tzinfo=UTC)  # 23:30 in New York
    recipient = planning.Recipient("America/New_York", frozenset({"sms"}))
    [reminder] = planning.plan(
        late + timedelta(hours=24),
        recipient,
        late - timedelta(days=2),
        (planning.Rule("reminder", "sms", timedelta(hours=24)),),
        None,
    )
    assert reminder.due_at == late
    [confirmation] = planning.plan(
        late + timedelta(days=2),
        recipient,
        late,
        (planning.Rule("confirmation", "sms", None),),
        None,
    )
    assert confirmation.due_at == late

    with pytest.raises(ValidationError, match="quiet_hours.*null"):
        PolicyDocument.model_validate(
            {"rules": [], "quiet_hours": {"start": "00:00", "end": "00:00"}}
        )
    # Left out, they are the default 21:00-08:00.
    assert PolicyDocument.model_validate({"rules": []}).quiet_hours == DEFAULT.quiet_hours


# -- the policy a transaction plans with ------------------------------------------------------


def test_policies_are_read_once_per_transaction_and_again_after_a_save() -> None:
    from sqlalchemy import create_engine, event
    from sqlalchemy.orm import Session

    from services.notifier import policy
    from services.notifier.tables import Base

    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    # Reads of every policy (save looks up its own row by key: not counted).
    reads = lambda: sum("FROM reminder_policy" in s and "WHERE" not in s for s in statements)  # noqa: E731
    at = datetime(2026, 12, 2, tzinfo=UTC)
    quiet_nights = DEFAULT.model_copy(update={"quiet_hours": None})
    with Session(engine) as session:
        assert policy.policy_for(session, "type-a").document == DEFAULT
        assert policy.policy_for(session, "type-b").document == DEFAULT
        assert reads() == 1
        policy.save(session, "type-a", quiet_nights, at, "admin@example.org")
        assert policy.policy_for(session, "type-a").quiet is None  # its own, just saved
        assert policy.policy_for(session, "type-b").quiet is not None  # the practice's
        assert reads() == 2
        session.commit()
        # A new transaction reads again: another process may have changed the policy meanwhile.
        assert policy.policy_for(session, "type-a").quiet is None
        assert reads() == 3
