"""What the notifier does when clients, practitioners and appointments change.

booked: plan the confirmation and reminders. rescheduled: cancel what is pending, plan again,
send one notice. cancelled: cancel what is pending, send one notice. Any other appointment
event only updates our copy. An event older than our copy (its sequence) changes nothing.

A course is one conversation: sessions booked, moved or cancelled together (``course_change``)
get their reminders here one by one, but the confirmation or notice comes once for all of them
from the course.* event.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, TextClause, and_, bindparam, insert, select, text, update
from sqlalchemy.sql.expression import Executable

from services.notifier import metrics, planning
from services.notifier.check_in_handlers import (
    follow_client,
    follow_enrolment,
    follow_sessions,
    remember_settings,
)
from services.notifier.policy import Policy, policy_for
from services.notifier.tables import (
    EVENTS,
    AppointmentView,
    ClientContact,
    InboundMessage,
    PracticeProfile,
    PractitionerName,
    Reminder,
)
from shared.contracts.appointments import (
    AppointmentFacts,
    AppointmentRescheduleRequested,
    CourseBooked,
    CourseCancelled,
    CourseFacts,
    CourseRescheduled,
)
from shared.contracts.notifications import PlannedReminder, RemindersPlanned
from shared.contracts.registry_data import ClientSnapshot, PracticeUpdated, PractitionerSnapshot
from shared.dates import format_date, format_time
from shared.db import after_commit
from shared.handlers import Handler, HandlerContext
from shared.outbox import EventTables

log = logging.getLogger(__name__)

PENDING = ("planned", "not_planned")
NOT_PLANNED_NOTE = "not planned: it would already have been due when the session was booked"
IN_PLAN = ("planned", "sending", "sent")


class ProjectionMissing(RuntimeError):
    """An event refers to something whose own event has not arrived yet; retried later."""


def remember_practice(event: PracticeUpdated, ctx: HandlerContext) -> None:
    known = ctx.session.get(PracticeProfile, event.practice_id)
    if known is not None and known.revision >= event.revision:
        return
    if known is None:
        known = PracticeProfile(practice_id=event.practice_id)
        ctx.session.add(known)
    known.revision, known.name, known.time_zone = event.revision, event.name, event.time_zone
    known.phone, known.address = event.phone, event.address


def remember_client(event: ClientSnapshot, ctx: HandlerContext) -> None:
    contact = ctx.session.get(ClientContact, event.client_id)
    if contact is not None and contact.revision >= event.revision:
        return
    fields = {
        "revision": event.revision,
        "first_name": event.first_name,
        "email": event.email,
        "phone": event.phone,
        "time_zone": event.time_zone,
        "locale": event.locale,
        "preferred_channels": ",".join(event.preferred_channels),
        "sms_consent": event.sms_consent,
        "email_consent": event.email_consent,
        "active": event.active,
    }
    if contact is None:
        ctx.session.add(ClientContact(client_id=event.client_id, sms_opted_out=False, **fields))
    else:
        for name, value in fields.items():
            setattr(contact, name, value)


def remember_practitioner(event: PractitionerSnapshot, ctx: HandlerContext) -> None:
    known = ctx.session.get(PractitionerName, event.practitioner_id)
    if known is not None and known.revision >= event.revision:
        return
    if known is None:
        ctx.session.add(
            PractitionerName(
                practitioner_id=event.practitioner_id,
                revision=event.revision,
                display_name=event.display_name,
            )
        )
    else:
        known.revision, known.display_name = event.revision, event.display_name


def _apply_appointment(event: AppointmentFacts, ctx: HandlerContext) -> AppointmentView | None:
    """Update the projection; None when the event is not newer than what we hold."""
    return _update_copy(event, ctx, ctx.session.get(AppointmentView, event.appointment_id))


def _update_copy(
    event: AppointmentFacts, ctx: HandlerContext, view: AppointmentView | None
) -> AppointmentView | None:
    """Our copy ``view`` (None: none yet) brought up to ``event``; None when the event is not
    newer than it."""
    if view is not None and _stale(event, view.sequence):
        return None
    if view is None:
        # A new copy: one INSERT, and a transient object (never added) for the caller to read.
        values = _view_values(event)
        ctx.session.execute(NEW_VIEW, values)
        return AppointmentView(**values)
    view.sequence = event.sequence
    view.status = event.status
    view.client_id = event.client_id
    view.practitioner_id = event.practitioner_id
    view.service_type_id = event.service_type_id
    view.starts_at = event.starts_at
    view.ends_at = event.ends_at
    view.time_zone = event.time_zone
    view.location, view.video_url = event.location, event.video_url
    view.self_service_token = event.self_service_token
    ctx.session.flush()
    return view


def _stale(event: AppointmentFacts, known: int) -> bool:
    """Whether ``event`` is not newer than our copy, at sequence ``known``."""
    if known < event.sequence:
        return False
    log.info(
        "stale appointment event ignored",
        extra={"appointment_id": event.appointment_id, "sequence": event.sequence},
    )
    return True


def _view_values(event: AppointmentFacts) -> dict[str, Any]:
    return {
        "appointment_id": event.appointment_id,
        "sequence": event.sequence,
        "status": event.status,
        "client_id": event.client_id,
        "practitioner_id": event.practitioner_id,
        "service_type_id": event.service_type_id,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "time_zone": event.time_zone,
        "location": event.location,
        "video_url": event.video_url,
        "self_service_token": event.self_service_token,
    }


class Reachable(Protocol):
    """What planning and recipient_of read of a client: our copy, or its columns as read."""

    @property
    def client_id(self) -> str: ...
    @property
    def preferred_channels(self) -> str: ...
    @property
    def sms_consent(self) -> bool: ...
    @property
    def sms_opted_out(self) -> bool: ...
    @property
    def email_consent(self) -> bool: ...
    @property
    def active(self) -> bool: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def time_zone(self) -> str: ...


class Appointment(Protocol):
    """What a planned message and the plan's event read of an appointment: our copy, or the
    event our copy was just written from."""

    @property
    def appointment_id(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def sequence(self) -> int: ...
    @property
    def starts_at(self) -> datetime: ...


def recipient_of(contact: Reachable) -> planning.Recipient:
    """The channels we may use now: preferred, consented, reachable, not opted out."""
    preferred = set(contact.preferred_channels.split(","))
    usable = set()
    sms_allowed = contact.sms_consent and not contact.sms_opted_out
    if contact.active and "sms" in preferred and sms_allowed and contact.phone:
        usable.add("sms")
    if contact.active and "email" in preferred and contact.email_consent and contact.email:
        usable.add("email")
    return planning.Recipient(contact.time_zone, frozenset(usable))


def _contact(ctx: HandlerContext, client_id: str) -> ClientContact:
    contact = ctx.session.get(ClientContact, client_id)
    if contact is None:
        raise ProjectionMissing(f"client {client_id} not known yet")
    return contact


# A capped SMS due this long before now shares no local day or ISO week with one planned now
# (planned reminders are due from now on): the client's older ones need not be read.
CAP_HORIZON = timedelta(days=8)

# Our copies written with Core statements built once: the ORM unit of work cost more Python
# time than the statements, and planning runs for every booking.
_CONTACT_TABLE = cast(Table, ClientContact.__table__)
_VIEW_TABLE = cast(Table, AppointmentView.__table__)
_REMINDER_TABLE = cast(Table, Reminder.__table__)
NEW_VIEW = insert(_VIEW_TABLE)
UPDATE_VIEW = (
    update(_VIEW_TABLE)
    .where(_VIEW_TABLE.c.appointment_id == bindparam("p_appointment_id"))
    .values({c.name: bindparam(c.name) for c in _VIEW_TABLE.c if not c.primary_key})
)

# A call's messages (planned and not planned) go as one multi-row INSERT, built once per row
# count: an executemany sent a statement a row through psycopg's pipeline, each with its own
# Python overhead, and SQLAlchemy compiles an insert() of several rows again at every execution
# (it does not cache one), so this one is text made from the table's columns. The appointment's
# and the call's values are a parameter each for all the rows and what every new message holds
# is written as a constant, which keeps a booking within the 50 parameters whose parsing psycopg
# caches.
_PER_MESSAGE = ("id", "kind", "channel", "due_at", "status", "note")
_EVERY_NEW_MESSAGE = {
    "attempts": "0",
    "next_attempt_at": "NULL",
    "sending_since": "NULL",
    "sent_at": "NULL",
    "fallback_of": "NULL",
}
_NEW_REMINDERS: dict[int, TextClause] = {}


def _new_reminders(count: int) -> TextClause:
    """The INSERT of ``count`` messages: ``:<column>_<n>`` for the columns of _PER_MESSAGE of
    the n-th, ``:<column>`` for the other columns but those of _EVERY_NEW_MESSAGE."""
    statement = _NEW_REMINDERS.get(count)
    if statement is None:
        columns = list(_REMINDER_TABLE.c)
        values = [
            [
                f":{c.name}_{n}"
                if c.name in _PER_MESSAGE
                else _EVERY_NEW_MESSAGE.get(c.name) or f":{c.name}"
                for c in columns
            ]
            for n in range(count)
        ]
        statement = _NEW_REMINDERS[count] = text(
            f"INSERT INTO {_REMINDER_TABLE.name} ({', '.join(c.name for c in columns)}) VALUES "
            + ", ".join(f"({', '.join(row)})" for row in values)
        ).bindparams(
            *(
                bindparam(c.name, type_=c.type)
                for c in columns
                if c.name not in (*_PER_MESSAGE, *_EVERY_NEW_MESSAGE)
            ),
            *(
                bindparam(f"{name}_{n}", type_=_REMINDER_TABLE.c[name].type)
                for n in range(count)
                for name in _PER_MESSAGE
            ),
        )
    return statement


# PostgreSQL writes a booking's new copy, its messages and the outbox row of its plan in one
# statement (data-modifying WITHs; the messages' foreign key is checked at its end): one round
# trip instead of three. SQLite has no such WITH: there they stay three statements. (NEW_VIEW
# takes its columns from the parameters it is run with; inside a WITH they must be spelled.)
_COPY = insert(_VIEW_TABLE).values({c.name: bindparam(c.name) for c in _VIEW_TABLE.c})
_BOOKED: dict[int, Executable] = {}


def _booked(count: int) -> Executable:
    """_COPY, _new_reminders(count) (none for 0) and EVENTS.append as one statement, which
    takes their parameters (those of the copy and the messages' shared ones are the same)."""
    statement = _BOOKED.get(count)
    if statement is None:
        writes = [_COPY.cte("copy")]
        if count:
            writes.append(_new_reminders(count).columns().cte("messages"))
        statement = _BOOKED[count] = EVENTS.appended_with(*writes)
    return statement


# Where the client's capped SMS stand (see _capped): their due times, those still relevant.
_CAPPED_SMS = and_(
    _REMINDER_TABLE.c.client_id == bindparam("client_id"),
    _REMINDER_TABLE.c.kind == "reminder",
    _REMINDER_TABLE.c.channel == "sms",
    _REMINDER_TABLE.c.status.in_(IN_PLAN),
    _REMINDER_TABLE.c.due_at >= bindparam("since"),
)
# An ORM select: it flushes what the session holds first (a reschedule's cancellations).
_CAPPED_DUE = select(Reminder.due_at).where(_CAPPED_SMS)

# The client's contact, our copy's sequence (NULL: no copy yet) and the due times of the
# client's capped SMS (a row each; none: one row with NULL), read together as plain columns:
# one round trip where three statements took three, and no ORM objects that are only read.
_PARTIES = (
    select(
        *(
            _CONTACT_TABLE.c[name]
            for name in (
                "client_id",
                "preferred_channels",
                "sms_consent",
                "sms_opted_out",
                "email_consent",
                "active",
                "phone",
                "email",
                "time_zone",
            )  # what Reachable names
        ),
        _VIEW_TABLE.c.sequence,
        _REMINDER_TABLE.c.due_at,
    )
    .select_from(
        _CONTACT_TABLE.outerjoin(
            _VIEW_TABLE, _VIEW_TABLE.c.appointment_id == bindparam("appointment_id")
        ).outerjoin(_REMINDER_TABLE, _CAPPED_SMS)
    )
    .where(_CONTACT_TABLE.c.client_id == bindparam("client_id"))
)


def plan_reminders(event: AppointmentFacts, ctx: HandlerContext) -> None:
    found = ctx.session.execute(
        _PARTIES,
        {
            "client_id": event.client_id,
            "appointment_id": event.appointment_id,
            "since": ctx.now - CAP_HORIZON,
        },
    ).all()
    if not found:
        raise ProjectionMissing(f"client {event.client_id} not known yet")
    contact, known = found[0], found[0].sequence
    if known is not None and _stale(event, known):
        return
    values = _view_values(event)
    if known is not None:
        changed = {k: v for k, v in values.items() if k != "appointment_id"}
        ctx.session.execute(UPDATE_VIEW, changed | {"p_appointment_id": event.appointment_id})
    # The event is what our copy now holds, so it stands for the copy below: an ORM object
    # made only to be read cost more Python time than the planning.
    policy = policy_for(ctx.session, event.service_type_id)
    recipient = recipient_of(contact)
    rules = policy.reminder_rules if event.course_change else policy.rules
    planned = planning.plan(event.starts_at, recipient, ctx.now, rules, policy.quiet)
    already = [row.due_at for row in found if row.due_at is not None]
    kept = _capped(ctx, contact, planned, policy, already)
    too_late = _too_late(ctx, event, recipient, policy)
    if known is not None:
        _add(ctx, event, kept, too_late=too_late)
        _emit_plan(ctx, event)
        return
    # A copy made just now has no other messages (they hang on it): its plan is what is added.
    rows = _messages(kept, too_late)
    if ctx.session.get_bind().dialect.name == "postgresql":
        plan = ctx.envelope_of(_plan(event, _in_due_order(rows)))  # written by _booked
        ctx.session.execute(
            _booked(len(rows)),
            values | _parameters(ctx, event, rows) | EventTables.append_params(plan),
        )
    else:
        ctx.session.execute(NEW_VIEW, values)
        if rows:
            _insert_reminders(ctx, event, rows)
        _emit_plan(ctx, event, rows)
    _count_planned(ctx, kept)


def replan_after_reschedule(event: AppointmentFacts, ctx: HandlerContext) -> None:
    contact = _contact(ctx, event.client_id)
    previous = ctx.session.get(AppointmentView, event.appointment_id)
    earlier_start = previous.starts_at if previous else event.starts_at
    view = _apply_appointment(event, ctx)
    if view is None:
        return
    _cancel_pending(ctx, view, "rescheduled")
    policy = policy_for(ctx.session, view.service_type_id)
    recipient = recipient_of(contact)
    planned = planning.plan(
        event.starts_at, recipient, ctx.now, policy.reminder_rules, policy.quiet
    )
    notice = planning.plan_notice(
        "reschedule_notice",
        () if event.course_change else policy.notice_channels,
        recipient,
        ctx.now,
        min(earlier_start, event.starts_at),
        policy.quiet,
    )
    _add(
        ctx,
        view,
        _capped(ctx, contact, planned, policy) + ([notice] if notice else []),
        too_late=_too_late(ctx, view, recipient, policy),
    )
    _emit_plan(ctx, view)


def cancel_reminders(event: AppointmentFacts, ctx: HandlerContext) -> None:
    contact = _contact(ctx, event.client_id)
    view = _apply_appointment(event, ctx)
    if view is None:
        return
    _cancel_pending(ctx, view, "appointment cancelled")
    policy = policy_for(ctx.session, view.service_type_id)
    notice = planning.plan_notice(
        "cancellation_notice",
        () if event.course_change else policy.notice_channels,
        recipient_of(contact),
        ctx.now,
        event.starts_at,
        policy.quiet,
    )
    _add(ctx, view, [notice] if notice else [])
    _emit_plan(ctx, view)


def confirm_course(event: CourseBooked, ctx: HandlerContext) -> None:
    """One confirmation per channel for every session of the course, with one .ics."""
    contact, anchor = _course_parties(ctx, event)
    policy = policy_for(ctx.session, event.service_type_id)
    rules = tuple(r for r in policy.rules if r.kind == "confirmation")
    first = min(s.starts_at for s in event.sessions)
    planned = planning.plan(first, recipient_of(contact), ctx.now, rules, policy.quiet)
    _add(ctx, anchor, [replace(p, kind="course_confirmation") for p in planned], event)
    _emit_plan(ctx, anchor)


def announce_course_moved(event: CourseRescheduled, ctx: HandlerContext) -> None:
    """One notice for the sessions of a course that moved together."""
    earliest = min(min(s.starts_at, s.previous_starts_at or s.starts_at) for s in event.sessions)
    _course_notice(event, ctx, "course_reschedule_notice", earliest)


def announce_course_cancelled(event: CourseCancelled, ctx: HandlerContext) -> None:
    """One notice for the rest of a course, cancelled together."""
    _course_notice(
        event, ctx, "course_cancellation_notice", min(s.starts_at for s in event.sessions)
    )


def _course_notice(event: CourseFacts, ctx: HandlerContext, kind: str, before: datetime) -> None:
    contact, anchor = _course_parties(ctx, event)
    policy = policy_for(ctx.session, event.service_type_id)
    notice = planning.plan_notice(
        kind, policy.notice_channels, recipient_of(contact), ctx.now, before, policy.quiet
    )
    _add(ctx, anchor, [notice] if notice else [], event)
    _emit_plan(ctx, anchor)


def _course_parties(
    ctx: HandlerContext, event: CourseFacts
) -> tuple[ClientContact, AppointmentView]:
    """The client and the course's first session in our copy (the message hangs on it)."""
    contact = _contact(ctx, event.client_id)
    first = min(event.sessions, key=lambda s: s.starts_at)
    anchor = ctx.session.get(AppointmentView, first.appointment_id)
    if anchor is None:
        raise ProjectionMissing(f"appointment {first.appointment_id} not known yet")
    return contact, anchor


def follow_appointment(event: AppointmentFacts, ctx: HandlerContext) -> None:
    """confirmed, checked in, completed, no-show, moved elsewhere: our copy only (send time
    checks the rest, and the next message says where)."""
    _apply_appointment(event, ctx)


def _capped(
    ctx: HandlerContext,
    contact: Reachable,
    planned: list[planning.Planned],
    policy: Policy,
    already: list[datetime] | None = None,
) -> list[planning.Planned]:
    """``planned`` within the client's SMS caps, given the due times of their other capped SMS
    since CAP_HORIZON (``already``: read here when the caller has not)."""
    if not any(planning.counts_against_caps(p.kind, p.channel) for p in planned):
        return planned
    if already is None:
        already = list(
            ctx.session.scalars(
                _CAPPED_DUE, {"client_id": contact.client_id, "since": ctx.now - CAP_HORIZON}
            )
        )
    kept, dropped = planning.apply_sms_caps(planned, already, contact.time_zone, policy.caps)
    for p in dropped:
        log.info("reminder SMS over the client's cap, not planned", extra={"due_at": str(p.due_at)})
        after_commit(ctx.session, metrics.REMINDERS_CAPPED.labels(p.channel).inc)
    return kept


def _too_late(
    ctx: HandlerContext, view: Appointment, recipient: planning.Recipient, policy: Policy
) -> list[planning.Planned]:
    """The reminders that would already have been due: written as not_planned (see _add)."""
    return planning.too_late(
        view.starts_at, recipient, ctx.now, policy.reminder_rules, policy.quiet
    )


def _cancel_pending(ctx: HandlerContext, view: AppointmentView, why: str) -> None:
    for reminder in ctx.session.scalars(
        select(Reminder).where(
            Reminder.appointment_id == view.appointment_id, Reminder.status.in_(PENDING)
        )
    ):
        reminder.status, reminder.note = "cancelled", why


def _add(
    ctx: HandlerContext,
    view: Appointment,
    planned: list[planning.Planned],
    course: CourseFacts | None = None,
    *,
    too_late: list[planning.Planned] | None = None,
) -> None:
    """The planned messages written, and as not_planned those ``too_late`` (see _too_late), in
    one INSERT."""
    rows = _messages(planned, too_late)
    if rows:
        _insert_reminders(ctx, view, rows, course)
    _count_planned(ctx, planned)


def _messages(
    planned: list[planning.Planned], too_late: list[planning.Planned] | None = None
) -> list[dict[str, Any]]:
    """New messages' own values (_PER_MESSAGE); the rest are their appointment's."""
    return [_message(p, "planned") for p in planned] + [
        _message(p, "not_planned") for p in too_late or ()
    ]


def _message(p: planning.Planned, status: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "kind": p.kind,
        "channel": p.channel,
        "due_at": p.due_at,
        "status": status,
        "note": NOT_PLANNED_NOTE if status == "not_planned" else None,
    }


def _count_planned(ctx: HandlerContext, planned: list[planning.Planned]) -> None:
    for p in planned:
        after_commit(ctx.session, metrics.REMINDERS_PLANNED.labels(p.channel, p.kind).inc)
    if any(p.due_at <= ctx.now for p in planned):
        after_commit(ctx.session, planning.due_now.set)


def _insert_reminders(
    ctx: HandlerContext,
    view: Appointment,
    messages: list[dict[str, Any]],
    course: CourseFacts | None = None,
) -> None:
    """``messages`` of ``view`` written as new_reminder would make them."""
    ctx.session.flush()  # what the ORM holds first (our copy, cancellations): rows refer to it
    ctx.session.execute(_new_reminders(len(messages)), _parameters(ctx, view, messages, course))


def _parameters(
    ctx: HandlerContext,
    view: Appointment,
    messages: list[dict[str, Any]],
    course: CourseFacts | None = None,
) -> dict[str, Any]:
    """The parameters of _new_reminders(len(messages))."""
    parameters: dict[str, Any] = {
        "appointment_id": view.appointment_id,
        "client_id": view.client_id,
        "appointment_sequence": view.sequence,
        "created_at": ctx.now,
        "course_id": None,
        "sessions": None,
    }
    if course is not None:
        parameters["course_id"] = course.course_id
        parameters["sessions"] = [
            s.model_dump(
                mode="json", include={"appointment_id", "sequence", "starts_at", "ends_at"}
            )
            for s in sorted(course.sessions, key=lambda s: s.starts_at)
        ]
    for n, message in enumerate(messages):
        for name in _PER_MESSAGE:
            parameters[f"{name}_{n}"] = message[name]
    return parameters


def new_reminder(
    view: AppointmentView,
    kind: str,
    channel: str,
    due_at: datetime,
    now: datetime,
    fallback_of: str | None = None,
    *,
    course_id: str | None = None,
    sessions: list | None = None,
) -> Reminder:
    return Reminder(
        id=str(uuid.uuid4()),
        appointment_id=view.appointment_id,
        client_id=view.client_id,
        appointment_sequence=view.sequence,
        kind=kind,
        channel=channel,
        due_at=due_at,
        status="planned",
        created_at=now,
        attempts=0,
        fallback_of=fallback_of,
        course_id=course_id,
        sessions=sessions,
    )


def _emit_plan(
    ctx: HandlerContext, view: Appointment, every: list[dict[str, Any]] | None = None
) -> None:
    """The whole current plan of the appointment: what is still to go and what went (read
    back, unless the caller holds ``every`` message of the appointment, as _messages makes
    them)."""
    ctx.emit(
        _plan(
            view,
            _in_due_order(every)
            if every is not None
            else list(
                ctx.session.scalars(
                    select(Reminder)
                    .where(
                        Reminder.appointment_id == view.appointment_id,
                        Reminder.status.in_((*IN_PLAN, "not_planned")),
                    )
                    .order_by(Reminder.due_at, Reminder.channel)
                )
            ),
        )
    )


def _in_due_order(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(messages, key=lambda r: (r["due_at"], r["channel"]))


def _plan(view: Appointment, rows: list[Reminder] | list[dict[str, Any]]) -> RemindersPlanned:
    """The plan of the appointment whose messages in the plan or not planned are ``rows``, in
    due order."""
    planned = [_planned(r) for r in rows]
    return RemindersPlanned(
        appointment_id=view.appointment_id,
        appointment_sequence=view.sequence,
        reminders=[p for p in planned if p.status in IN_PLAN],
        not_planned=[p for p in planned if p.status == "not_planned"],
    )


def _planned(r: Reminder | dict[str, Any]) -> PlannedReminder:
    if isinstance(r, dict):
        return PlannedReminder(
            reminder_id=r["id"],
            channel=r["channel"],
            kind=r["kind"],
            due_at=r["due_at"],
            status=r["status"],
        )
    return PlannedReminder(
        reminder_id=r.id,
        channel=r.channel,  # type: ignore[arg-type]
        kind=r.kind,
        due_at=r.due_at,
        status=r.status,
    )


def note_reschedule_request(event: AppointmentRescheduleRequested, ctx: HandlerContext) -> None:
    """A client asked on their session's page to move it: an item in the desk inbox, where the
    desk already answers clients' SMS replies."""
    contact = ctx.session.get(ClientContact, event.client_id)
    profile = ctx.session.scalars(select(PracticeProfile)).first()
    local = event.starts_at.astimezone(ZoneInfo(profile.time_zone if profile else event.time_zone))
    ctx.session.add(
        InboundMessage(
            id=str(uuid.uuid4()),
            provider_id=f"self-service-{ctx.envelope.id}",
            from_phone=(contact.phone if contact else None) or "",
            client_id=event.client_id,
            appointment_id=event.appointment_id,
            body=f"Asked on their appointment page to reschedule the session of "
            f"{format_date(local)} at {format_time(local)}.",
            intent="reschedule",
            needs_desk=True,
            received_at=event.requested_at,
        )
    )


HANDLERS: dict[str, list[Handler]] = {
    "practice.updated": [remember_practice],
    "client.registered": [remember_client, follow_client],
    "client.updated": [remember_client, follow_client],
    "practitioner.registered": [remember_practitioner],
    "practitioner.updated": [remember_practitioner],
    "appointment.booked": [plan_reminders, follow_sessions],
    "appointment.rescheduled": [replan_after_reschedule, follow_sessions],
    "appointment.cancelled": [cancel_reminders, follow_sessions],
    "appointment.confirmed": [follow_appointment],
    "appointment.checked_in": [follow_appointment],
    "appointment.completed": [follow_appointment],
    "appointment.no_show": [follow_appointment],
    "appointment.location_changed": [follow_appointment],
    "appointment.self_service_link_replaced": [follow_appointment],
    "appointment.reschedule_requested": [note_reschedule_request],
    "course.booked": [confirm_course],
    "course.rescheduled": [announce_course_moved],
    "course.cancelled": [announce_course_cancelled],
    "check_in.settings_updated": [remember_settings],
    "check_in.enrolment_changed": [follow_enrolment],
}
