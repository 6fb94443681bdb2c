"""What the notifier does when the scheduler changes a client's check-ins or the practice's
safety net, and when a client's sessions change (a schedule "N days after each session", or
"while the client has upcoming sessions", follows them). Only the next check-in of a client is
ever planned; the sender plans the one after when it sends (or skips) it."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from services.notifier import check_ins
from services.notifier.policy import policy_for
from services.notifier.tables import (
    AppointmentView,
    CheckIn,
    CheckInEnrolment,
    CheckInSettings,
    ClientContact,
)
from shared.contracts.appointments import AppointmentFacts
from shared.contracts.check_ins import CheckInEnrolmentChanged, CheckInSettingsUpdated
from shared.contracts.registry_data import ClientSnapshot
from shared.handlers import HandlerContext

PRACTICE = "practice"


def remember_settings(event: CheckInSettingsUpdated, ctx: HandlerContext) -> None:
    known = ctx.session.get(CheckInSettings, PRACTICE)
    if known is not None and known.revision >= event.revision:
        return
    if known is None:
        known = CheckInSettings(id=PRACTICE)
        ctx.session.add(known)
    known.revision, known.threshold = event.revision, event.threshold
    known.crisis_words, known.safety_message = list(event.crisis_words), event.safety_message


def follow_enrolment(event: CheckInEnrolmentChanged, ctx: HandlerContext) -> None:
    enrolment = ctx.session.get(CheckInEnrolment, event.client_id)
    if enrolment is not None and enrolment.revision >= event.revision:
        return
    if enrolment is None:
        enrolment = CheckInEnrolment(client_id=event.client_id, paused_at=None)
        ctx.session.add(enrolment)
    enrolment.enrolment_id, enrolment.practitioner_id = event.enrolment_id, event.practitioner_id
    enrolment.revision, enrolment.active = event.revision, event.active
    enrolment.schedule, enrolment.local_time = event.schedule, event.local_time.isoformat()
    enrolment.weekdays = ",".join(str(d) for d in sorted(event.weekdays))
    enrolment.days_after, enrolment.until = event.days_after, event.until
    enrolment.until_date, enrolment.question = event.until_date, event.question
    ctx.session.flush()
    replan(ctx.session, enrolment, ctx.now)


def follow_client(event: ClientSnapshot, ctx: HandlerContext) -> None:
    """A client known only now, or in another time zone: their next check-in, planned again.
    Runs after the contact handler has updated our copy."""
    enrolment = ctx.session.get(CheckInEnrolment, event.client_id)
    if enrolment is not None and enrolment.active:
        replan(ctx.session, enrolment, ctx.now)


# Whether a client's check-ins follow their sessions: three columns read as a plain row (Core,
# built once), the enrolment loaded into the ORM only when it does. This runs for every
# appointment event, and most clients have no enrolment that follows them.
_ENROLMENTS = cast(Table, CheckInEnrolment.__table__)
_FOLLOWING = select(_ENROLMENTS.c.active, _ENROLMENTS.c.schedule, _ENROLMENTS.c.until).where(
    _ENROLMENTS.c.client_id == bindparam("client_id")
)


def follow_sessions(event: AppointmentFacts, ctx: HandlerContext) -> None:
    """Runs after the reminder handlers have updated our copy of the appointment."""
    found = ctx.session.execute(_FOLLOWING, {"client_id": event.client_id}).first()
    if found is None or not found.active:
        return
    if found.schedule == "after_session" or found.until == "upcoming_sessions":
        replan(ctx.session, ctx.session.get_one(CheckInEnrolment, event.client_id), ctx.now)


def replan(session: Session, enrolment: CheckInEnrolment, now: datetime) -> None:
    """Drop the planned check-in and plan the next one from now."""
    for planned in session.scalars(
        select(CheckIn).where(
            CheckIn.client_id == enrolment.client_id,
            CheckIn.kind == "question",
            CheckIn.status == "planned",
        )
    ):
        planned.status, planned.note = "cancelled", "check-ins changed"
    if enrolment.active:
        plan_next(session, enrolment, now, now)


def schedule_of(enrolment: CheckInEnrolment) -> check_ins.Schedule:
    return check_ins.Schedule(
        kind=enrolment.schedule,
        local_time=time.fromisoformat(enrolment.local_time),
        weekdays=frozenset(int(d) for d in enrolment.weekdays.split(",") if d),
        days_after=enrolment.days_after,
        until=enrolment.until,
        until_date=enrolment.until_date,
    )


def session_starts(session: Session, client_id: str) -> list[datetime]:
    return list(
        session.scalars(
            select(AppointmentView.starts_at).where(
                AppointmentView.client_id == client_id, AppointmentView.status != "cancelled"
            )
        )
    )


def plan_next(
    session: Session, enrolment: CheckInEnrolment, after: datetime, now: datetime
) -> CheckIn | None:
    contact = session.get(ClientContact, enrolment.client_id)
    if contact is None:
        return None  # planned when the enrolment next changes; the client's event comes first
    due = check_ins.next_due(
        schedule_of(enrolment),
        after,
        contact.time_zone,
        policy_for(session, None).quiet,
        session_starts(session, enrolment.client_id),
    )
    if due is None:
        return None
    planned = CheckIn(
        id=str(uuid.uuid4()),
        client_id=enrolment.client_id,
        practitioner_id=enrolment.practitioner_id,
        kind="question",
        question=enrolment.question,
        due_at=due,
        status="planned",
        created_at=now,
    )
    session.add(planned)
    session.flush()
    return planned
