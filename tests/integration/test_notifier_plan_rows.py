"""What the notifier's planning writes, column by column, and the plan it publishes, on
PostgreSQL and on SQLite (the embedded default): a booking (planned and not planned messages in
one INSERT; on PostgreSQL in one statement with our new copy of the appointment and the plan's
outbox row), a reschedule, a cancellation and a course, which share that INSERT. And the
statements a booking costs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from services.bootstrap import bootstrap
from services.notifier import handlers, policy
from services.notifier.tables import AppointmentView, Reminder
from shared import migrations
from shared.clock import FrozenClock
from shared.contracts.appointments import (
    AppointmentBooked,
    CourseBooked,
    CourseCancelled,
    CourseRescheduled,
    CourseSession,
)
from shared.contracts.notifications import PlannedReminder, RemindersPlanned
from shared.envelope import Envelope
from shared.handlers import HandlerContext
from tests.fakes.notifier import (
    CLIENT,
    PRACTITIONER,
    SERVICE_TYPE,
    Notifier,
    appointment,
    envelope,
    new_id,
    notifier_on_postgres,
)
from tests.support import service_env

pytestmark = pytest.mark.integration
NEW_YORK = ZoneInfo("America/New_York")
COLUMNS = [c.name for c in Reminder.__table__.columns if c.name != "id"]
NOT_PLANNED = handlers.NOT_PLANNED_NOTE


def ny(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


@contextmanager
def notifier_on_sqlite(at: datetime, path: Path) -> Iterator[Notifier]:
    clock = FrozenClock(at)
    rt = bootstrap(
        "notifier",
        env=service_env("amqp://unused", {"notifier": f"sqlite:///{path / 'notifier.db'}"}),
        clock=clock,
    )
    migrations.upgrade(rt)
    try:
        yield Notifier(rt, clock)
    finally:
        rt.db.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def notifier(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Notifier]:
    at = ny(4, 6, 12)
    with (
        notifier_on_postgres(at)
        if request.param == "postgresql"
        else notifier_on_sqlite(at, tmp_path)
    ) as n:
        assert n.rt.db.engine.dialect.name == request.param
        n.client()
        n.practitioner()
        yield n


def row(
    appointment_id: str,
    kind: str,
    channel: str,
    due_at: datetime,
    created_at: datetime,
    *,
    sequence: int = 1,
    status: str = "planned",
    note: str | None = None,
    course_id: str | None = None,
    sessions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A reminder row as planning writes it, every column but its id."""
    return {
        "appointment_id": appointment_id,
        "client_id": CLIENT,
        "appointment_sequence": sequence,
        "kind": kind,
        "channel": channel,
        "due_at": due_at,
        "status": status,
        "created_at": created_at,
        "note": note,
        "attempts": 0,
        "next_attempt_at": None,
        "sending_since": None,
        "sent_at": None,
        "fallback_of": None,
        "course_id": course_id,
        "sessions": sessions,
    }


def rows_of(n: Notifier, appointment_id: str) -> list[Reminder]:
    return n.rows(Reminder, Reminder.appointment_id == appointment_id)


def written(reminders: list[Reminder]) -> list[dict[str, Any]]:
    """Every column but the id, in a stable order."""
    return sorted(
        ({name: getattr(r, name) for name in COLUMNS} for r in reminders),
        key=lambda r: (r["appointment_sequence"], r["due_at"], r["kind"], r["channel"]),
    )


def published(n: Notifier, appointment_id: str, sequence: int) -> dict[str, Any]:
    """The last plan published for the appointment, checked against the rows it names: what it
    must say is the appointment's messages in the plan and not planned, in due order."""
    [*_, last] = [e for e in n.outbox("reminder.planned") if e["appointment_id"] == appointment_id]
    current = sorted(
        (
            r
            for r in rows_of(n, appointment_id)
            if r.status in ("planned", "sending", "sent", "not_planned")
        ),
        key=lambda r: (r.due_at, r.channel),
    )
    as_event = [
        PlannedReminder.model_validate(
            {
                "reminder_id": r.id,
                "channel": r.channel,
                "kind": r.kind,
                "due_at": r.due_at,
                "status": r.status,
            }
        )
        for r in current
    ]
    assert last == (
        RemindersPlanned(
            appointment_id=appointment_id,
            appointment_sequence=sequence,
            reminders=[p for p in as_event if p.status != "not_planned"],
            not_planned=[p for p in as_event if p.status == "not_planned"],
        ).payload()
    )
    return last


def envelopes(n: Notifier, event_type: str) -> list[Envelope]:
    table = n.rt.service.tables.outbox
    with n.rt.db.sessions() as session:
        bodies = session.scalars(
            select(table.c.body).where(table.c.type == event_type).order_by(table.c.position)
        )
        return [Envelope.from_json(body) for body in bodies]


def test_a_booking_writes_its_copy_planned_and_not_planned_messages_and_publishes_them(
    notifier: Notifier,
) -> None:
    now, a = notifier.clock.now(), new_id()
    booked = notifier.deliver(
        appointment(
            "book",
            a,
            1,
            ny(4, 7, 18),  # 30 hours ahead: the 48-hour email would already have been due
            location="Room 2",
            video_url="https://video.example/r/1",
            self_service_token="q3Jx0b8mZ2kR7tVw",
        )
    )

    assert written(rows_of(notifier, a)) == [
        row(a, "reminder", "email", ny(4, 5, 18), now, status="not_planned", note=NOT_PLANNED),
        row(a, "confirmation", "email", now, now),
        row(a, "confirmation", "sms", now, now),
        row(a, "reminder", "sms", ny(4, 6, 18), now),
    ]
    [view] = notifier.rows(AppointmentView, AppointmentView.appointment_id == a)
    assert {c.name: getattr(view, c.name) for c in AppointmentView.__table__.columns} == {
        "appointment_id": a,
        "sequence": 1,
        "status": "booked",
        "client_id": CLIENT,
        "practitioner_id": PRACTITIONER,
        "service_type_id": SERVICE_TYPE,
        "starts_at": ny(4, 7, 18),
        "ends_at": ny(4, 7, 18) + timedelta(minutes=50),
        "time_zone": "America/New_York",
        "location": "Room 2",
        "video_url": "https://video.example/r/1",
        "self_service_token": "q3Jx0b8mZ2kR7tVw",
    }
    plan = published(notifier, a, 1)
    assert [(p["kind"], p["channel"]) for p in plan["reminders"]] == [
        ("confirmation", "email"),
        ("confirmation", "sms"),
        ("reminder", "sms"),
    ]
    assert [(p["kind"], p["channel"]) for p in plan["not_planned"]] == [("reminder", "email")]
    [sent] = envelopes(notifier, "reminder.planned")
    assert (sent.version, sent.source, sent.occurred_at) == (1, "notifier", now)
    assert (sent.causation_id, sent.correlation_id) == (str(booked.id), booked.correlation_id)


def test_a_booking_with_nothing_to_send_still_writes_the_copy_and_publishes_an_empty_plan(
    notifier: Notifier,
) -> None:
    notifier.client(revision=2, sms_consent=False, email_consent=False)
    a = new_id()
    notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))

    assert rows_of(notifier, a) == []
    [view] = notifier.rows(AppointmentView, AppointmentView.appointment_id == a)
    assert (view.sequence, view.status) == (1, "booked")
    assert published(notifier, a, 1)["reminders"] == []


def test_a_booking_of_a_copy_made_earlier_updates_it_and_publishes_the_plan_read_back(
    notifier: Notifier,
) -> None:
    now, a = notifier.clock.now(), new_id()
    notifier.deliver(appointment("confirm", a, 1, ny(4, 15, 15)))
    notifier.deliver(appointment("book", a, 2, ny(4, 16, 15), location="Room 3"))

    assert written(rows_of(notifier, a)) == [
        row(a, "confirmation", "email", now, now, sequence=2),
        row(a, "confirmation", "sms", now, now, sequence=2),
        row(a, "reminder", "email", ny(4, 14, 15), now, sequence=2),
        row(a, "reminder", "sms", ny(4, 15, 15), now, sequence=2),
    ]
    [view] = notifier.rows(AppointmentView, AppointmentView.appointment_id == a)
    assert (view.sequence, view.status, view.location) == (2, "booked", "Room 3")
    assert len(published(notifier, a, 2)["reminders"]) == 4


def test_bookings_in_one_batch_see_each_others_sms_under_the_cap(notifier: Notifier) -> None:
    morning, afternoon = new_id(), new_id()
    notifier.dispatcher.dispatch_batch(
        [
            envelope(appointment("book", morning, 1, ny(4, 15, 10)), notifier.clock.now()),
            envelope(appointment("book", afternoon, 1, ny(4, 15, 16)), notifier.clock.now()),
        ]
    )

    assert [r["kind"] for r in written(rows_of(notifier, morning))].count("reminder") == 2
    assert [(r["kind"], r["channel"]) for r in written(rows_of(notifier, afternoon))] == [
        ("confirmation", "email"),
        ("confirmation", "sms"),
        ("reminder", "email"),  # the SMS would be a second one that day
    ]
    published(notifier, morning, 1)
    published(notifier, afternoon, 1)


def test_a_reschedule_and_a_cancellation_write_their_messages_as_a_booking_does(
    notifier: Notifier,
) -> None:
    booked_at, a = notifier.clock.now(), new_id()
    notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))
    notifier.clock.advance(timedelta(hours=1))
    moved_at = notifier.clock.now()
    notifier.deliver(
        appointment("reschedule", a, 2, ny(4, 7, 19), previous_starts_at=ny(4, 15, 15))
    )

    cancelled = {"status": "cancelled", "note": "rescheduled"}
    assert written(rows_of(notifier, a)) == [
        row(a, "confirmation", "email", booked_at, booked_at) | cancelled,
        row(a, "confirmation", "sms", booked_at, booked_at) | cancelled,
        row(a, "reminder", "email", ny(4, 13, 15), booked_at) | cancelled,
        row(a, "reminder", "sms", ny(4, 14, 15), booked_at) | cancelled,
        row(
            a,
            "reminder",
            "email",
            ny(4, 5, 19),
            moved_at,
            sequence=2,
            status="not_planned",
            note=NOT_PLANNED,
        ),
        row(a, "reschedule_notice", "email", moved_at, moved_at, sequence=2),
        row(a, "reminder", "sms", ny(4, 6, 19), moved_at, sequence=2),
    ]
    published(notifier, a, 2)

    notifier.clock.advance(timedelta(hours=1))
    cancelled_at = notifier.clock.now()
    notifier.deliver(appointment("cancel", a, 3, ny(4, 7, 19)))
    after = written(rows_of(notifier, a))
    assert [r for r in after if r["appointment_sequence"] == 3] == [
        row(a, "cancellation_notice", "email", cancelled_at, cancelled_at, sequence=3)
    ]
    assert {(r["status"], r["note"]) for r in after if r["appointment_sequence"] == 2} == {
        ("cancelled", "appointment cancelled")
    }
    assert published(notifier, a, 3)["reminders"][0]["kind"] == "cancellation_notice"


def test_a_courses_messages_carry_the_course_and_its_sessions(notifier: Notifier) -> None:
    now, course_id = notifier.clock.now(), new_id()
    ids, starts = [new_id(), new_id()], [ny(4, 14, 10), ny(4, 21, 10)]
    for a, start in zip(ids, starts, strict=True):
        notifier.deliver(appointment("book", a, 1, start, course_id=course_id, course_change=True))
    assert [(r["kind"], r["channel"]) for r in written(rows_of(notifier, ids[0]))] == [
        ("reminder", "email"),
        ("reminder", "sms"),
    ]  # the course's confirmation speaks for the sessions

    def course(sequence: int, starts: list[datetime]) -> dict[str, Any]:
        return {
            "course_id": course_id,
            "client_id": CLIENT,
            "practitioner_id": PRACTITIONER,
            "service_type_id": SERVICE_TYPE,
            "time_zone": "America/New_York",
            "every_weeks": 1,
            "sessions": [
                CourseSession(
                    appointment_id=a,
                    sequence=sequence,
                    starts_at=start,
                    ends_at=start + timedelta(minutes=50),
                )
                for a, start in zip(ids, starts, strict=True)
            ],
        }

    def sessions(sequence: int, starts: list[datetime]) -> list[dict[str, Any]]:
        return [
            {
                "appointment_id": a,
                "sequence": sequence,
                "starts_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ends_at": (start + timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            for a, start in zip(ids, starts, strict=True)
        ]

    notifier.deliver(CourseBooked(**course(1, starts)))
    confirmations = [
        r for r in written(rows_of(notifier, ids[0])) if r["kind"].startswith("course")
    ]
    assert confirmations == [
        row(ids[0], "course_confirmation", channel, now, now, course_id=course_id)
        | {"sessions": sessions(1, starts)}
        for channel in ("email", "sms")
    ]
    published(notifier, ids[0], 1)

    moved = [s + timedelta(days=1) for s in starts]
    for a, start, before in zip(ids, moved, starts, strict=True):
        notifier.deliver(
            appointment(
                "reschedule",
                a,
                2,
                start,
                course_id=course_id,
                course_change=True,
                previous_starts_at=before,
            )
        )
    notifier.deliver(CourseRescheduled(**course(2, moved)))
    notifier.deliver(CourseCancelled(**course(2, moved), cancelled_by="practice"))
    notices = [r for r in written(rows_of(notifier, ids[0])) if r["kind"].endswith("notice")]
    assert notices == [
        row(ids[0], kind, "email", now, now, sequence=2, course_id=course_id)
        | {"sessions": sessions(2, moved)}
        for kind in ("course_cancellation_notice", "course_reschedule_notice")
    ]
    published(notifier, ids[0], 2)


def test_a_booking_is_two_statements_on_postgresql_and_four_on_sqlite(
    notifier: Notifier,
) -> None:
    """The read (the client, our copy, their capped SMS), then on PostgreSQL one statement
    writing our new copy, the messages (planned and not planned alike) and the plan's outbox
    row; on SQLite the copy, the messages and the outbox row in one INSERT each. The policy is
    read once a transaction, beforehand here. It took four, and five with a reminder too late
    to plan."""
    engine = notifier.rt.db.engine
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(" ".join(statement.split()))

    for starts_at in (ny(4, 15, 15), ny(4, 7, 18)):  # four planned; three and one too late
        booked = appointment("book", new_id(), 1, starts_at)
        assert isinstance(booked, AppointmentBooked)
        with notifier.rt.db.transaction() as session:
            ctx = HandlerContext(
                session,
                envelope(booked, notifier.clock.now()),
                notifier.clock.now(),
                notifier.dispatcher.emitter,
            )
            policy.policy_for(session, SERVICE_TYPE)
            event.listen(engine, "before_cursor_execute", seen)
            try:
                handlers.plan_reminders(booked, ctx)
            finally:
                event.remove(engine, "before_cursor_execute", seen)
        heads = [s.split(" (")[0].split(" VALUES")[0] for s in statements]
        if engine.dialect.name == "postgresql":
            assert heads == [heads[0], "WITH copy AS"], heads
            assert [
                table in statements[1]
                for table in ("appointment_view", "reminder", "INSERT INTO outbox")
            ] == [True, True, True]
        else:
            assert heads == [
                heads[0],
                "INSERT INTO appointment_view",
                "INSERT INTO reminder",
                "INSERT INTO outbox",
            ], heads
        assert heads[0].startswith("SELECT client_contact.client_id")
        statements.clear()
