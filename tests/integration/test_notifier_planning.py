"""The notifier's handlers on real PostgreSQL: booking, rescheduling, cancelling, stale and
redelivered events, the policy (practice default, service-type override) and SMS caps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notifier import planning, policy
from services.notifier.tables import AppointmentView, PolicyRecord, Reminder
from tests.fakes.notifier import (
    SERVICE_TYPE,
    Notifier,
    appointment,
    new_id,
    notifier_on_postgres,
)

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = [pytest.mark.integration, pytest.mark.clock]
NEW_YORK = ZoneInfo("America/New_York")


def ny(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


@pytest.fixture
def notifier() -> Iterator[Notifier]:
    with notifier_on_postgres(ny(4, 6, 12)) as n:
        n.client()
        n.practitioner()
        yield n


def plan_of(n: Notifier, appointment_id: str) -> list[tuple[str, str, datetime, str]]:
    return [
        (r.kind, r.channel, r.due_at, r.status)
        for r in n.rows(
            Reminder, Reminder.appointment_id == appointment_id, order_by=Reminder.due_at
        )
    ]


def test_booking_plans_confirmations_and_reminders_and_publishes_the_plan(
    notifier: Notifier,
) -> None:
    a = new_id()
    notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))

    assert sorted(plan_of(notifier, a)) == sorted(
        [
            ("confirmation", "email", ny(4, 6, 12), "planned"),
            ("confirmation", "sms", ny(4, 6, 12), "planned"),
            ("reminder", "email", ny(4, 13, 15), "planned"),
            ("reminder", "sms", ny(4, 14, 15), "planned"),
        ]
    )
    [published] = notifier.outbox("reminder.planned")
    assert published["appointment_id"] == a
    assert len(published["reminders"]) == 4


def test_a_redelivered_booking_plans_nothing_more(notifier: Notifier) -> None:
    a = new_id()
    env = notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))
    notifier.deliver(env)

    assert len(plan_of(notifier, a)) == 4
    assert len(notifier.outbox("reminder.planned")) == 1


def test_a_message_due_at_once_wakes_the_dispatcher_when_its_plan_commits(
    notifier: Notifier,
) -> None:
    planning.due_now.clear()
    booked = notifier.deliver(appointment("book", new_id(), 1, ny(4, 15, 15)))
    assert planning.due_now.is_set()  # the confirmations are due now
    planning.due_now.clear()
    notifier.deliver(booked)  # redelivered: nothing planned
    assert not planning.due_now.is_set()


def test_reschedule_replans_and_sends_one_notice(notifier: Notifier) -> None:
    a = new_id()
    notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))
    notifier.clock.advance(timedelta(hours=1))
    notifier.deliver(
        appointment("reschedule", a, 2, ny(4, 22, 10), previous_starts_at=ny(4, 15, 15))
    )

    live = [p for p in plan_of(notifier, a) if p[3] == "planned"]
    assert sorted(live) == [
        ("reminder", "email", ny(4, 20, 10), "planned"),
        ("reminder", "sms", ny(4, 21, 10), "planned"),
        ("reschedule_notice", "email", ny(4, 6, 13), "planned"),
    ]
    # Unsent confirmations go too: the notice tells the new time instead.
    cancelled = [(k, c) for k, c, _, s in plan_of(notifier, a) if s == "cancelled"]
    assert sorted(cancelled) == [
        ("confirmation", "email"),
        ("confirmation", "sms"),
        ("reminder", "email"),
        ("reminder", "sms"),
    ]
    latest = notifier.outbox("reminder.planned")[-1]
    assert {(r["kind"], r["channel"]) for r in latest["reminders"]} == {
        ("reminder", "email"),
        ("reminder", "sms"),
        ("reschedule_notice", "email"),
    }


def test_cancel_cancels_what_is_pending_and_plans_exactly_one_notice(notifier: Notifier) -> None:
    a = new_id()
    notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))
    cancel = notifier.deliver(appointment("cancel", a, 2, ny(4, 15, 15)))
    notifier.deliver(cancel)  # redelivered

    statuses = plan_of(notifier, a)
    assert [p for p in statuses if p[3] == "planned"] == [
        ("cancellation_notice", "email", ny(4, 6, 12), "planned")
    ]
    assert sum(1 for p in statuses if p[3] == "cancelled") == 4


def test_a_stale_event_changes_nothing(notifier: Notifier) -> None:
    a = new_id()
    notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))
    notifier.deliver(appointment("cancel", a, 3, ny(4, 15, 15)))
    before = plan_of(notifier, a)

    notifier.deliver(
        appointment("reschedule", a, 2, ny(4, 22, 10), previous_starts_at=ny(4, 15, 15))
    )
    notifier.deliver(appointment("confirm", a, 2, ny(4, 15, 15)))

    assert plan_of(notifier, a) == before
    [view] = notifier.rows(AppointmentView, AppointmentView.appointment_id == a)
    assert (view.status, view.sequence, view.starts_at) == ("cancelled", 3, ny(4, 15, 15))


def test_a_booking_brings_an_older_copy_up_to_date_and_plans_from_it(
    notifier: Notifier,
) -> None:
    """Our copy made by an earlier event (here one at a lower sequence) is updated in place by
    the booking, whose plan is then read back whole; a booking older than the copy plans
    nothing."""
    a = new_id()
    notifier.deliver(appointment("confirm", a, 1, ny(4, 15, 15)))
    notifier.deliver(appointment("book", a, 2, ny(4, 16, 15), location="Room 2"))

    [view] = notifier.rows(AppointmentView, AppointmentView.appointment_id == a)
    assert (view.status, view.sequence, view.starts_at, view.location) == (
        "booked",
        2,
        ny(4, 16, 15),
        "Room 2",
    )
    assert [(kind, channel) for kind, channel, _, _ in plan_of(notifier, a)] == [
        ("confirmation", "email"),
        ("confirmation", "sms"),
        ("reminder", "email"),
        ("reminder", "sms"),
    ]
    [published] = notifier.outbox("reminder.planned")
    assert len(published["reminders"]) == 4

    b = new_id()
    notifier.deliver(appointment("confirm", b, 3, ny(4, 15, 15)))
    notifier.deliver(appointment("book", b, 2, ny(4, 15, 15)))
    assert plan_of(notifier, b) == []


def test_a_service_type_policy_overrides_the_practice_for_future_bookings(
    notifier: Notifier,
) -> None:
    with notifier.rt.db.transaction() as session:
        policy.save(
            session,
            policy.PRACTICE,
            policy.PolicyDocument.model_validate(
                {"rules": [{"kind": "reminder", "channel": "email", "offset": "PT72H"}]}
            ),
            notifier.clock.now(),
            "admin@example.com",
        )
        policy.save(
            session,
            SERVICE_TYPE,
            policy.PolicyDocument.model_validate(
                {"rules": [{"kind": "reminder", "channel": "sms", "offset": "PT2H"}]}
            ),
            notifier.clock.now(),
            "admin@example.com",
        )
    a = new_id()
    notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))

    assert plan_of(notifier, a) == [("reminder", "sms", ny(4, 15, 13), "planned")]


def test_the_sms_cap_drops_a_second_reminder_sms_on_the_same_day(notifier: Notifier) -> None:
    morning, afternoon = new_id(), new_id()
    notifier.deliver(appointment("book", morning, 1, ny(4, 15, 10)))
    notifier.deliver(appointment("book", afternoon, 1, ny(4, 15, 16)))

    reminders = lambda a: [(k, c) for k, c, _, _ in plan_of(notifier, a) if k == "reminder"]  # noqa: E731
    assert reminders(morning) == [("reminder", "email"), ("reminder", "sms")]
    assert reminders(afternoon) == [("reminder", "email")]  # the SMS would be a second that day


def test_policy_api_shows_the_default_and_only_an_admin_may_change_it(notifier: Notifier) -> None:
    from shared.web import create_service_app
    from tests.fakes.notifier import bearer

    http = create_service_app(notifier.rt).test_client()
    shown = http.get("/api/v1/reminder-policy", headers=bearer(notifier.rt))
    assert shown.status_code == 200
    assert shown.json["practice"]["rules"][3] == {
        "kind": "reminder",
        "channel": "sms",
        "offset": "PT24H",
    }

    two_hours = {"rules": [{"kind": "reminder", "channel": "sms", "offset": "PT2H"}]}
    refused = http.put("/api/v1/reminder-policy", json=two_hours, headers=bearer(notifier.rt))
    assert refused.status_code == 403
    invalid = http.put(
        "/api/v1/reminder-policy",
        json={"rules": [{"kind": "reminder", "channel": "sms", "offset": "soon"}]},
        headers=bearer(notifier.rt, "admin"),
    )
    assert invalid.status_code == 422
    assert invalid.headers["Content-Type"] == "application/problem+json"
    assert http.get("/api/v1/reminder-policy", headers=bearer(notifier.rt)).json == shown.json

    changed = http.put(
        "/api/v1/reminder-policy",
        json=two_hours | {"service_type_id": SERVICE_TYPE},
        headers=bearer(notifier.rt, "admin"),
    )
    assert changed.status_code == 200
    after = http.get("/api/v1/reminder-policy", headers=bearer(notifier.rt)).json
    assert after["practice"] == shown.json["practice"]
    assert after["service_types"][SERVICE_TYPE]["rules"] == two_hours["rules"]
    a = new_id()
    notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))
    assert plan_of(notifier, a) == [("reminder", "sms", ny(4, 15, 13), "planned")]
    removed = http.delete(
        f"/api/v1/reminder-policy/{SERVICE_TYPE}", headers=bearer(notifier.rt, "admin")
    )
    assert removed.status_code == 204
    assert http.get("/api/v1/reminder-policy", headers=bearer(notifier.rt)).json == shown.json
    again = http.delete(
        f"/api/v1/reminder-policy/{SERVICE_TYPE}", headers=bearer(notifier.rt, "admin")
    )
    assert again.status_code == 404


def test_quiet_hours_switched_off_with_null_and_equal_bounds_refused(notifier: Notifier) -> None:
    from shared.web import create_service_app
    from tests.fakes.notifier import bearer

    http = create_service_app(notifier.rt).test_client()
    admin = bearer(notifier.rt, "admin")
    rules = [{"kind": "reminder", "channel": "sms", "offset": "PT24H"}]
    before = http.get("/api/v1/reminder-policy", headers=admin).json

    refused = http.put(
        "/api/v1/reminder-policy",
        json={"rules": rules, "quiet_hours": {"start": "22:00", "end": "22:00"}},
        headers=admin,
    )
    assert refused.status_code == 422
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert "null" in refused.json["detail"]
    assert http.get("/api/v1/reminder-policy", headers=admin).json == before

    off = http.put(
        "/api/v1/reminder-policy", json={"rules": rules, "quiet_hours": None}, headers=admin
    )
    assert off.status_code == 200, off.json
    assert off.json["policy"]["quiet_hours"] is None
    a = new_id()
    notifier.deliver(appointment("book", a, 1, ny(4, 15, 23, 30)))  # 23:30 in New York
    assert plan_of(notifier, a) == [("reminder", "sms", ny(4, 14, 23, 30), "planned")]


def test_a_policy_saved_with_equal_quiet_hours_still_means_none(notifier: Notifier) -> None:
    # How quiet hours were switched off before null was allowed.
    with notifier.rt.db.transaction() as session:
        session.add(
            PolicyRecord(
                scope=policy.PRACTICE,
                document={
                    "rules": [{"kind": "reminder", "channel": "sms", "offset": "PT24H"}],
                    "quiet_hours": {"start": "00:00:00", "end": "00:00:00"},
                },
                updated_at=notifier.clock.now(),
                updated_by="admin@example.com",
            )
        )
    a = new_id()
    notifier.deliver(appointment("book", a, 1, ny(4, 15, 23, 30)))
    assert plan_of(notifier, a) == [("reminder", "sms", ny(4, 14, 23, 30), "planned")]


def test_reminders_that_would_already_be_due_are_not_planned_and_say_so(
    notifier: Notifier,
) -> None:
    from shared.web import create_service_app
    from tests.fakes.notifier import bearer

    a = new_id()
    notifier.deliver(appointment("book", a, 1, ny(4, 7, 18)))  # booked 30 hours ahead

    assert sorted(plan_of(notifier, a)) == sorted(
        [
            ("confirmation", "email", ny(4, 6, 12), "planned"),
            ("confirmation", "sms", ny(4, 6, 12), "planned"),
            ("reminder", "email", ny(4, 5, 18), "not_planned"),
            ("reminder", "sms", ny(4, 6, 18), "planned"),
        ]
    )
    [published] = notifier.outbox("reminder.planned")
    assert len(published["reminders"]) == 3
    assert [(r["kind"], r["channel"]) for r in published["not_planned"]] == [("reminder", "email")]
    http = create_service_app(notifier.rt).test_client()
    listed = http.get(
        "/api/v1/reminders", query_string={"appointment_id": a}, headers=bearer(notifier.rt)
    ).json["items"]
    [missed] = [r for r in listed if r["status"] == "not_planned"]
    assert "already have been due" in missed["note"]
