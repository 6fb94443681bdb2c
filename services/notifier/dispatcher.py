"""The dispatcher loop: sends due reminders, at most once each, NOTIFIER_SEND_CONCURRENCY at a
time. Each sending thread takes its reminders one by one through the three steps below, so a
message in flight is exactly a reminder ``sending``, and a killed worker leaves at most one in
doubt per sending thread.

1. Claim the next due reminder (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers
   share the work) with its appointment, client and practitioner in the same query, check again
   that the appointment is neither cancelled nor started and that the client still allows the
   channel, render the message, wait for the sender's SMS slot (shared by every dispatcher
   through the ``sms_pacing`` row, see SmsPace) and mark that one reminder ``sending`` —
   committed right before its own provider call. Reminders not yet claimed stay ``planned`` for
   this or any other worker. The practice's voice, its edited templates and its policies are
   read once per round (see Wording), by the round's first claim.
2. Call the provider outside any transaction.
3. Record the outcome: ``sent`` with the provider's id (two UPDATEs and the outbox row, nothing
   read back); or, for a transient failure, ``planned``
   again with a later ``next_attempt_at`` (up to NOTIFIER_MAX_SEND_ATTEMPTS); or ``failed`` and
   the next channel the client allows.

A worker stopped gracefully (SIGTERM) claims nothing more and finishes the messages in hand; one
killed between 1 and 3 leaves those messages ``sending``. After NOTIFIER_SENDING_TIMEOUT it
is settled, never resent blindly: the provider is asked whether it has it (Twilio: the messages
to that number since then; the sandbox: its own table). Found: recorded ``sent``. Certainly not
there: ``planned`` again and sent. Email cannot be looked up at an SMTP server: it is resent only
with NOTIFIER_RESEND_EMAIL_IN_DOUBT. Anything undecided becomes ``unknown`` and reminder.failed
(reason ``outcome_unknown``) tells the desk to check the message log (or Twilio's) before
resending.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import (
    BindParameter,
    Insert,
    Row,
    Select,
    Table,
    bindparam,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from services.notifier import invites, metrics, planning, policy, practice, templates
from services.notifier.channels import (
    Channel,
    InDoubt,
    OutboundMessage,
    PermanentFailure,
    SendFailure,
    TransientFailure,
    Undecided,
    body_digest,
    configured,
)
from services.notifier.handlers import IN_PLAN, new_reminder, recipient_of
from services.notifier.settings import NotifierSettings
from services.notifier.tables import (
    AppointmentView,
    ClientContact,
    Message,
    PractitionerName,
    Reminder,
    SmsPacing,
    TemplateRecord,
)
from shared.clock import Clock
from shared.contracts.notifications import ClientOptedOut, ReminderFailed, ReminderSent
from shared.db import Database
from shared.outbox import EventTables
from shared.service import Runtime

log = logging.getLogger(__name__)
UNSUBSCRIBED = "21610"
FALLBACK_WINDOW = timedelta(hours=12)  # another channel's message this close covers it

# A claim's statement, whatever its columns.
SelectT = TypeVar("SelectT", bound=Select[Any])

# The per-message writes, built once with their values as parameters (each is run for every
# message; building a statement and its cache key cost about as much Python time as running it).
_REMINDER = cast(Table, Reminder.__table__)
_MESSAGE = cast(Table, Message.__table__)
MARK_SENDING = (
    update(_REMINDER)
    .where(_REMINDER.c.id == bindparam("p_reminder_id"))
    .values(
        status="sending",
        sending_since=bindparam("p_now"),
        attempts=_REMINDER.c.attempts + 1,
    )
)
NEW_MESSAGE = insert(_MESSAGE).values(
    id=bindparam("p_id"),
    reminder_id=bindparam("p_reminder_id"),
    appointment_id=bindparam("p_appointment_id"),
    client_id=bindparam("p_client_id"),
    channel=bindparam("p_channel"),
    kind=bindparam("p_kind"),
    recipient=bindparam("p_recipient"),
    provider=bindparam("p_provider"),
    status="sending",
    created_at=bindparam("p_now"),
    updated_at=bindparam("p_now"),
    asks_confirmation=bindparam("p_asks_confirmation"),
    body_digest=bindparam("p_body_digest"),
)
SKIP = (
    update(_REMINDER)
    .where(_REMINDER.c.id == bindparam("p_reminder_id"))
    .values(status="skipped", note=bindparam("p_note"))
)
SENT = (
    update(_REMINDER)
    .where(_REMINDER.c.id == bindparam("p_reminder_id"))
    .values(status="sent", sent_at=bindparam("p_now"), note=None)
)
RECORD_SENT = SENT.returning(
    _REMINDER.c.appointment_id, _REMINDER.c.client_id, _REMINDER.c.channel, _REMINDER.c.kind
)
MESSAGE_HANDED_OVER = (
    update(_MESSAGE)
    .where(_MESSAGE.c.id == bindparam("p_message_id"))
    .values(
        provider_id=bindparam("p_provider_id"),
        status=bindparam("p_status"),
        updated_at=bindparam("p_now"),
    )
)


@dataclass(frozen=True, slots=True)
class ClaimedReminder:
    """The claimed reminder's columns, as the claim read them: a send only reads them (its
    writes are UPDATEs), so they are plain values rather than objects the ORM tracks."""

    id: str
    appointment_id: str
    client_id: str
    kind: str
    channel: str
    due_at: datetime
    course_id: str | None
    sessions: list[Any] | None


@dataclass(frozen=True, slots=True)
class ClaimedView:
    """Our copy of the claimed reminder's appointment, as the claim read it."""

    appointment_id: str
    sequence: int
    status: str
    starts_at: datetime
    ends_at: datetime
    service_type_id: str | None
    time_zone: str | None
    location: str | None
    video_url: str | None
    self_service_token: str | None


@dataclass(frozen=True, slots=True)
class ClaimedContact:
    """The claimed reminder's client, as the claim read it."""

    client_id: str
    first_name: str
    email: str | None
    phone: str | None
    time_zone: str
    locale: str
    preferred_channels: str
    sms_consent: bool
    email_consent: bool
    active: bool
    sms_opted_out: bool


def _columns(table: Table, shape: type) -> list[Any]:
    return [table.c[f.name] for f in fields(shape)]


_CLAIMED = (
    (ClaimedReminder, _REMINDER),
    (ClaimedView, cast(Table, AppointmentView.__table__)),
    (ClaimedContact, cast(Table, ClientContact.__table__)),
)

_WIDTHS = tuple((shape, len(fields(shape))) for shape, _ in _CLAIMED)


def claimed(
    row: Row[Any],
) -> tuple[ClaimedReminder, ClaimedView | None, ClaimedContact | None, str | None]:
    """A claim's row as the reminder, its appointment, its client and the practitioner's name
    (None: not known here); the columns come in _CLAIMED's order, then the name."""
    values = tuple(row)
    parts: list[Any] = []
    at = 0
    for shape, width in _WIDTHS:
        chunk = values[at : at + width]
        parts.append(None if chunk[0] is None else shape(*chunk))
        at += width
    reminder, view, contact = parts
    return reminder, view, contact, values[at]


@dataclass(frozen=True)
class Job:
    reminder_id: str
    message: OutboundMessage
    kind: str
    due_at: datetime
    sender: str
    appointment_id: str
    client_id: str


@dataclass
class _Round:
    """What the senders of one round share (under ``lock``)."""

    left: int  # claims the round may still make
    threads: int
    stop: threading.Event
    wording: Wording
    drained: bool = False  # a claim found nothing due, or the round is over
    senders: list[Future[int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Wording:
    """What the messages of one round are worded with: the practice's voice, its edited
    templates and its policies (for the SMS join link), read once, by the round's first claim in
    that claim's transaction, instead of once per message. An edit saved during a round applies
    from the next round on."""

    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._read = False
        self.voice = practice.Voice(settings.practice_name, settings.practice_phone)
        self.templates: dict[tuple[str, str], templates.Template] = {}
        self.policies: dict[str, policy.PolicyDocument] = {}

    def read(self, session: Session) -> Wording:
        with self._lock:
            if not self._read:
                self.voice = practice.voice(session, self.settings)
                self.templates = {
                    (r.kind, r.channel): templates.Template(r.text, r.subject, r.html)
                    for r in session.scalars(select(TemplateRecord))
                }
                self.policies = policy.all_documents(session)
                self._read = True
        return self

    def template(self, kind: str, channel: str) -> tuple[templates.Template, bool]:
        """The practice's template for a kind and channel, or the default; whether edited."""
        edited = self.templates.get((kind, channel))
        return (edited, True) if edited else (templates.DEFAULTS[(kind, channel)], False)

    def sms_join_link(self, service_type_id: str | None) -> bool:
        return policy.applying(self.policies.get, service_type_id).sms_join_link


def build_channels(rt: Runtime) -> dict[str, Channel]:
    from services.notifier.channels.sandbox import Sandbox

    extra = rt.settings.extra
    providers = configured(extra)
    channels: dict[str, Channel] = {}
    sandbox = Sandbox(rt.db, rt.clock)
    if providers["sms"] == "twilio":
        from services.notifier.channels.twilio_sms import TwilioSms

        channels["sms"] = TwilioSms(extra, rt.settings.public_url)
    else:
        channels["sms"] = sandbox
    if providers["email"] == "smtp":
        from services.notifier.channels.smtp_email import SmtpEmail

        channels["email"] = SmtpEmail(extra)
    else:
        channels["email"] = sandbox
    return channels


class SenderRateLimit:
    """At most ``per_second`` messages per sender number from this process."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.last: dict[str, float] = {}

    def wait(self, sender: str, stop: threading.Event, session: Session | None = None) -> None:
        ready = self.last.get(sender, 0.0) + self.interval
        delay = ready - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        self.last[sender] = time.monotonic()


class SmsPace:
    """At most ``per_second`` messages per sender number from every dispatcher sharing the
    database: each takes the next free slot from the sender's ``sms_pacing`` row and waits, by
    the application clock, until that slot comes. A slot given up (the worker stopping) stays
    unused, so together they never send faster than the rate.

    Taken inside a claim's transaction (``session``), the row stays locked until that claim
    commits, right after its wait: the next sender queues on the row, then finds its slot at most
    one interval ahead. That costs no second connection per sending thread, and on SQLite no
    second writer blocked behind the claim's own write lock. Still holding the row, the sender
    then moves the next slot to one interval after the moment it actually went: a sender that
    stalled past its slot (a busy machine) pushes the others back instead of letting them catch
    up in a burst faster than the rate."""

    # A slot further ahead than this means the clock was set back (tests move it): start afresh.
    HORIZON = timedelta(hours=1)

    def __init__(self, db: Database, clock: Clock, per_second: float) -> None:
        self.db = db
        self.clock = clock
        self.interval = timedelta(seconds=1.0 / per_second) if per_second > 0 else None
        # Core statements built once (they run for every SMS). The upsert creates the sender's
        # row if need be and, either way, locks it and returns its next slot: one statement
        # where an INSERT and a SELECT ... FOR UPDATE took two.
        table = cast(Table, SmsPacing.__table__)
        upsert = (pg_insert if db.is_postgres else sqlite_insert)(table).values(
            sender=bindparam("p_sender"), next_at=bindparam("p_now")
        )
        self._lock = upsert.on_conflict_do_update(
            index_elements=[table.c.sender], set_={"next_at": table.c.next_at}
        ).returning(table.c.next_at)
        self._move = (
            update(table)
            .where(table.c.sender == bindparam("p_sender"))
            .values(next_at=bindparam("p_next_at"))
        )

    def wait(self, sender: str, stop: threading.Event, session: Session | None = None) -> None:
        if self.interval is None:
            return
        slot = self.take_slot(sender) if session is None else self._locked_slot(sender, session)
        delay = (slot - self.clock.now()).total_seconds()
        if delay > 0:
            stop.wait(delay)
        if session is not None:
            # Written once, after the wait, while the row is still locked: nobody else could
            # read the slot moved on before.
            self._move_to(sender, max(slot, self.clock.now()) + self.interval, session)

    def take_slot(self, sender: str, session: Session | None = None) -> datetime:
        """The sender's next free slot, the row moved on by one interval (committed with
        ``session``, or at once in a transaction of its own)."""
        if session is None:
            with self.db.transaction() as own:
                return self.take_slot(sender, own)
        assert self.interval is not None
        slot = self._locked_slot(sender, session)
        self._move_to(sender, slot + self.interval, session)
        return slot

    def _locked_slot(self, sender: str, session: Session) -> datetime:
        """The sender's next free slot, its row locked until ``session`` ends."""
        now = self.clock.now()
        next_at: datetime = session.execute(
            self._lock, {"p_sender": sender, "p_now": now}
        ).scalar_one()
        slot = max(next_at, now)
        return now if slot - now > self.HORIZON else slot

    def _move_to(self, sender: str, next_at: datetime, session: Session) -> None:
        session.execute(self._move, {"p_sender": sender, "p_next_at": next_at})


def until_next_round(stop: threading.Event, interval: float) -> None:
    """Wait ``interval`` seconds, or less when a message planned in this process is already due
    (``planning.due_now``); a stop is heard within a fifth of a second."""
    deadline = time.monotonic() + interval
    while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
        if planning.due_now.wait(min(left, 0.2)):
            return


class ReminderDispatcher:
    def __init__(self, rt: Runtime, channels: dict[str, Channel] | None = None) -> None:
        self.rt = rt
        self.settings = NotifierSettings.from_env(rt.settings.extra)
        self.channels = channels or build_channels(rt)
        self.limit: SmsPace | SenderRateLimit = SmsPace(
            rt.db, rt.clock, self.settings.sms_per_second
        )
        self._pool: ThreadPoolExecutor | None = None
        # Messages stuck ``sending`` are looked for at most this often (by the app clock), not
        # every round: they are settled only after NOTIFIER_SENDING_TIMEOUT anyway.
        self._recover_every = timedelta(seconds=min(5.0, self.settings.sending_timeout / 2))
        self._recovered_at: datetime | None = None
        self._claim = self._claim_statement()
        # PostgreSQL takes each message's two writes as one statement of data-modifying CTEs:
        # marking it sending (the reminder UPDATE with the message INSERT, inside the claim's
        # transaction) and recording it sent (both UPDATEs with reminder.sent's outbox row, a
        # transaction by itself, see Database.alone). SQLite has no such CTEs: separate ones.
        self._mark_together: Insert | None = None
        self._sent_together: Executable | None = None
        if rt.db.is_postgres:
            self._mark_together = NEW_MESSAGE.add_cte(MARK_SENDING.cte("marked"))
            self._sent_together = rt.emitter.tables.appended_with(
                SENT.cte("sent"), MESSAGE_HANDED_OVER.cte("handed_over")
            )

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            planning.due_now.clear()  # what is planned from here on wakes the next round
            try:
                busy = self.run_once(stop)
            except Exception:
                log.exception("reminder dispatch failed; trying again")
                busy = False
            if not busy:
                until_next_round(stop, self.settings.dispatch_interval)

    def run_once(self, stop: threading.Event | None = None) -> bool:
        """One round of up to NOTIFIER_DISPATCH_BATCH messages, sent by up to
        NOTIFIER_SEND_CONCURRENCY threads, each claiming, sending and recording one message at a
        time; True if it handled a full batch (more may be waiting).

        The round starts with one sender (the calling thread), and each message claimed starts
        one more, up to the limit; the first claim that finds nothing due ends the round for all
        of them. So a round of a few messages costs a few claims, not one empty claim per thread
        (a busy practice's rounds follow each other a few messages at a time: starting all the
        threads each round made every message cost about half as much again). A message planned
        meanwhile sets ``planning.due_now``, which starts the next round at once."""
        stop = stop or threading.Event()
        now = self.rt.clock.now()
        if self._recovered_at is None or not (
            timedelta(0) <= now - self._recovered_at < self._recover_every
        ):
            self.recover_stuck()
            self._recovered_at = now
        threads = max(1, min(self.settings.send_concurrency, self.settings.batch_size))
        this = _Round(self.settings.batch_size, threads, stop, Wording(self.settings))
        handled = self._send_some(this)
        with this.lock:
            this.drained = True  # no sender starts another from here on
        for sender in this.senders:  # complete: a sender is listed before its starter ends
            handled += sender.result()
        return handled >= self.settings.batch_size

    def _send_some(self, this: _Round) -> int:
        """Claim, send and record messages one after another while the round lasts."""
        handled = 0
        while not this.stop.is_set():
            with this.lock:
                if this.left <= 0 or this.drained:
                    break
                this.left -= 1
            job = self.claim_next(this.stop, this.wording)
            if job is None:
                with this.lock:
                    this.drained = True
                break
            self._another_sender(this)
            self.deliver(job, this.stop)
            handled += 1
        return handled

    def _another_sender(self, this: _Round) -> None:
        """One more sender for the round, while it has messages left and room for one."""
        with this.lock:
            if this.drained or this.left <= 0 or len(this.senders) + 1 >= this.threads:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    this.threads - 1, thread_name_prefix="reminder-send"
                )
            this.senders.append(self._pool.submit(self._send_some, this))

    # -- 1. claim --------------------------------------------------------------------------------

    def _locked(self, statement: SelectT) -> SelectT:
        """Reminder rows locked (only they: a claim's outer-joined rows are only read)."""
        if self.rt.db.is_postgres:
            return statement.with_for_update(skip_locked=True, of=_REMINDER)
        return statement

    def _claim_statement(self) -> Select[Any]:
        """The next due reminder with what its message needs, at ``now`` (a parameter), as
        plain columns (see ``claimed``): built once per dispatcher (building it and its cache
        key took about 0.25 ms of Python time for every message), and a Core statement, whose
        row costs a fraction of loading four ORM objects that are only read."""
        reminder, view, contact = (table for _, table in _CLAIMED)
        practitioner = cast(Table, PractitionerName.__table__)
        now: BindParameter[datetime] = bindparam("now")
        statement = (
            select(
                *(column for shape, table in _CLAIMED for column in _columns(table, shape)),
                practitioner.c.display_name,
            )
            .select_from(
                reminder.outerjoin(view, view.c.appointment_id == reminder.c.appointment_id)
                .outerjoin(contact, contact.c.client_id == reminder.c.client_id)
                .outerjoin(practitioner, practitioner.c.practitioner_id == view.c.practitioner_id)
            )
            .where(
                reminder.c.status == "planned",
                reminder.c.due_at <= now,
                or_(reminder.c.next_attempt_at.is_(None), reminder.c.next_attempt_at <= now),
            )
            .order_by(reminder.c.due_at)
            .limit(1)
        )
        return self._locked(statement)

    def claim_next(
        self, stop: threading.Event | None = None, wording: Wording | None = None
    ) -> Job | None:
        """The next due reminder, marked ``sending`` and committed, ready for its provider call;
        None when nothing is due (or the worker is stopping: the reminder stays ``planned``)."""
        stop = stop or threading.Event()
        wording = wording or Wording(self.settings)
        now = self.rt.clock.now()
        with self.rt.db.transaction() as session:
            while True:
                row = session.execute(self._claim, {"now": now}).first()
                if row is None:
                    return None
                reminder, view, contact, practitioner = claimed(row)
                job = self._prepare(session, reminder, view, contact, practitioner, wording, now)
                if job is None:  # skipped, try the next one
                    continue
                if job.message.channel == "sms":  # holds the row lock; others skip it meanwhile
                    self.limit.wait(job.sender, stop, session)
                if stop.is_set():
                    return None  # released: only the skips above are committed
                self._mark_sending(session, reminder, job, self.rt.clock.now())
                return job

    def _mark_sending(
        self, session: Session, reminder: ClaimedReminder, job: Job, now: datetime
    ) -> None:
        if self._mark_together is None:
            session.execute(MARK_SENDING, {"p_reminder_id": reminder.id, "p_now": now})
        session.execute(
            NEW_MESSAGE if self._mark_together is None else self._mark_together,
            {
                "p_id": job.message.message_id,
                "p_reminder_id": reminder.id,
                "p_appointment_id": reminder.appointment_id,
                "p_client_id": reminder.client_id,
                "p_channel": reminder.channel,
                "p_kind": reminder.kind,
                "p_recipient": job.message.to,
                "p_provider": self.channels[reminder.channel].name,
                "p_now": now,
                "p_asks_confirmation": asks_confirmation(reminder),
                "p_body_digest": body_digest(job.message.text),
            },
        )

    def _prepare(
        self,
        session: Session,
        reminder: ClaimedReminder,
        view: ClaimedView | None,
        contact: ClaimedContact | None,
        practitioner: str | None,
        wording: Wording,
        now: datetime,
    ) -> Job | None:
        occurrences = sessions_of(session, reminder, view, now)
        why_not = self._why_not(reminder, view, contact, occurrences)
        if why_not or view is None or contact is None:
            session.execute(SKIP, {"p_reminder_id": reminder.id, "p_note": why_not})
            log.info("reminder skipped", extra={"reminder_id": reminder.id, "why": why_not})
            return None
        to = contact.phone if reminder.channel == "sms" else contact.email
        assert to is not None
        message_id = str(uuid.uuid4())
        outbound = self._render(
            session,
            reminder,
            view,
            contact,
            practitioner,
            occurrences,
            wording.read(session),
            message_id,
            to,
            now,
        )
        sender = self.rt.settings.extra.get("TWILIO_FROM_NUMBER", "sms")
        return Job(
            reminder.id,
            outbound,
            reminder.kind,
            reminder.due_at,
            sender,
            reminder.appointment_id,
            reminder.client_id,
        )

    @staticmethod
    def _why_not(
        reminder: ClaimedReminder,
        view: ClaimedView | None,
        contact: ClaimedContact | None,
        occurrences: list[invites.Occurrence],
    ) -> str | None:
        if view is None or contact is None:
            return "appointment or client unknown"
        if not occurrences:
            if reminder.course_id is not None:
                return "no session of the course left to tell about"
            if view.status == "cancelled":
                return "appointment cancelled"
            return "appointment already started"
        if reminder.channel not in recipient_of(contact).channels:
            return f"client no longer allows {reminder.channel}"
        return None

    def _render(
        self,
        session: Session,
        reminder: ClaimedReminder,
        view: ClaimedView,
        contact: ClaimedContact,
        practitioner: str | None,
        occurrences: list[invites.Occurrence],
        wording: Wording,
        message_id: str,
        to: str,
        now: datetime,
    ) -> OutboundMessage:
        speaker = wording.voice
        name = practitioner or "your practitioner"
        template, edited = wording.template(reminder.kind, reminder.channel)
        values: Mapping[str, object]
        where = occurrences[0]
        manage_url = self._manage_url(session, where.appointment_id, view)
        if reminder.course_id is not None:
            values = templates.course_context(
                practice_name=speaker.name,
                practice_phone=speaker.phone,
                practitioner=name,
                starts=[o.starts_at for o in occurrences],
                time_zone=contact.time_zone,
                first_name=contact.first_name,
                locale=contact.locale,
                location=where.location or (None if where.video_url else speaker.address),
                join_url=where.video_url,
                manage_url=manage_url,
            )
        else:
            values = templates.context(
                practice_name=speaker.name,
                practice_phone=speaker.phone,
                practitioner=name,
                starts_at=view.starts_at,
                time_zone=contact.time_zone,
                first_name=contact.first_name,
                locale=contact.locale,
                practice_time_zone=view.time_zone,
                location=where.location or (None if where.video_url else speaker.address),
                join_url=where.video_url,
                sms_link=wording.sms_join_link(view.service_type_id),
                manage_url=manage_url,
            )
        rendered = self._rendered(reminder, template, edited, values)
        calendar = None
        if reminder.channel == "email":
            calendar = invites.invite(
                kind=reminder.kind,
                sessions=occurrences,
                practitioner=name,
                practice_name=speaker.name,
                organizer_email=self.settings.email_from,
                attendee_email=contact.email,
                attendee_name=contact.first_name,
                time_zone=view.time_zone,
                practice_address=speaker.address,
                now=now,
            )
        return OutboundMessage(
            message_id=message_id,
            channel=reminder.channel,
            to=to,
            text=templates.sms_body(rendered.text) if reminder.channel == "sms" else rendered.text,
            subject=rendered.subject,
            html=rendered.html,
            calendar=calendar,
            written_at=now,
        )

    def _manage_url(
        self, session: Session, appointment_id: str, claimed: ClaimedView
    ) -> str | None:
        """The session's self-service page (for a course, its first session still to come:
        read unless it is the claimed reminder's own)."""
        view: ClaimedView | AppointmentView | None = (
            claimed
            if claimed.appointment_id == appointment_id
            else session.get(AppointmentView, appointment_id)
        )
        if view is None or not view.self_service_token:
            return None
        return f"{self.rt.settings.public_url}/s/{view.self_service_token}"

    @staticmethod
    def _rendered(
        reminder: ClaimedReminder,
        template: templates.Template,
        edited: bool,
        values: Mapping[str, object],
    ) -> templates.Rendered:
        """The message in the practice's wording or, when that template fails (one saved before
        the limits, or values it did not expect), in the default wording: the client still
        hears of the session, and the failure is counted and logged without the template."""
        try:
            return templates.render(template, values)
        except templates.TemplateProblem as exc:
            if not edited:
                raise
            metrics.TEMPLATE_FALLBACKS.labels(reminder.channel, reminder.kind).inc()
            log.warning(
                "edited template failed; sent in the default wording",
                extra={
                    "reminder_id": reminder.id,
                    "kind": reminder.kind,
                    "channel": reminder.channel,
                    "error": type(exc.__cause__).__name__,
                },
            )
            return templates.render(templates.DEFAULTS[(reminder.kind, reminder.channel)], values)

    # -- 2. send, 3. record ----------------------------------------------------------------------

    def deliver(self, job: Job, stop: threading.Event) -> None:
        channel = self.channels[job.message.channel]
        try:
            provider_id = channel.send(job.message)
        except SendFailure as failure:
            self._failed(job, failure)
        except Exception as exc:  # a bug or an odd library error: retried, within the limit
            log.exception("unexpected error while sending", extra={"reminder_id": job.reminder_id})
            self._failed(job, TransientFailure(f"unexpected {type(exc).__name__}"))
        else:
            self._sent(job, provider_id)

    def _sent(self, job: Job, provider_id: str) -> None:
        now = self.rt.clock.now()
        provider = self.channels[job.message.channel].name
        if self._sent_together is None:
            with self.rt.db.transaction() as session:
                self._record_sent(
                    session, job.reminder_id, job.message.message_id, provider, provider_id, now
                )
        else:
            # The claim's facts are the reminder's: nothing a reminder is sent with changes
            # while it is ``sending`` (a fall-back is a reminder of its own).
            sent = self.rt.emitter.envelope(
                ReminderSent(
                    reminder_id=job.reminder_id,
                    appointment_id=job.appointment_id,
                    client_id=job.client_id,
                    channel=job.message.channel,  # type: ignore[arg-type]
                    kind=job.kind,
                    message_id=job.message.message_id,
                    sent_at=now,
                )
            )
            self.rt.db.alone(
                self._sent_together,
                self._handed_over(job.reminder_id, job.message.message_id, provider, provider_id)
                | {"p_now": now}
                | EventTables.append_params(sent),
            )
        self.rt.outbox_written()
        metrics.REMINDERS_SENT.labels(job.message.channel, job.kind).inc()
        metrics.LATENESS.labels(job.message.channel).observe(
            max(0.0, (now - job.due_at).total_seconds())
        )

    def _record_sent(
        self,
        session: Session,
        reminder_id: str,
        message_id: str,
        provider: str,
        provider_id: str,
        now: datetime,
    ) -> None:
        """The reminder ``sent`` and its message given the provider's id, by UPDATEs alone (the
        reminder's facts for reminder.sent come back from its UPDATE). Core statements on the
        tables: they touch no object the session holds, and skip the ORM's bulk-update
        bookkeeping."""
        sent = session.execute(RECORD_SENT, {"p_reminder_id": reminder_id, "p_now": now}).one()
        session.execute(
            MESSAGE_HANDED_OVER,
            self._handed_over(reminder_id, message_id, provider, provider_id) | {"p_now": now},
        )
        self.rt.emitter.emit(
            session,
            ReminderSent(
                reminder_id=reminder_id,
                appointment_id=sent.appointment_id,
                client_id=sent.client_id,
                channel=sent.channel,
                kind=sent.kind,
                message_id=message_id,
                sent_at=now,
            ),
        )

    @staticmethod
    def _handed_over(
        reminder_id: str, message_id: str, provider: str, provider_id: str
    ) -> dict[str, object]:
        return {
            "p_reminder_id": reminder_id,
            "p_message_id": message_id,
            "p_provider_id": provider_id,
            "p_status": "queued" if channel_is_async(provider) else "sent",
        }

    def _failed(self, job: Job, failure: SendFailure) -> None:
        now = self.rt.clock.now()
        permanent = isinstance(failure, PermanentFailure)
        log.warning(
            "send failed",
            extra={
                "reminder_id": job.reminder_id,
                "reason": failure.reason,
                "permanent": permanent,
            },
        )
        with self.rt.db.transaction() as session:
            reminder = session.get_one(Reminder, job.reminder_id)
            message = session.get_one(Message, job.message.message_id)
            message.status, message.error_code, message.updated_at = "failed", failure.code, now
            retry = not permanent and reminder.attempts < self.settings.max_send_attempts
            if retry:
                delays = self.settings.retry_delays
                delay = delays[min(reminder.attempts - 1, len(delays) - 1)]
                reminder.status, reminder.note = "planned", f"retrying: {failure.reason}"
                reminder.next_attempt_at = now + timedelta(seconds=delay)
                metrics.REMINDER_RETRIES.labels(reminder.channel).inc()
                return
            reason = (
                failure.reason
                if permanent
                else f"gave up after {reminder.attempts} attempts: {failure.reason}"
            )
            self._give_up(session, reminder, reason, permanent, now)
            contact = session.get(ClientContact, reminder.client_id)
            if failure.code == UNSUBSCRIBED and contact is not None and not contact.sms_opted_out:
                # Twilio knows the number replied STOP even if we never saw the reply.
                contact.sms_opted_out = True
                self.rt.emitter.emit(
                    session,
                    ClientOptedOut(
                        client_id=contact.client_id, channel="sms", opted_out=True, at=now
                    ),
                )
                metrics.OPT_OUTS.labels("true").inc()
            fall_back(session, reminder, now)
        self.rt.outbox_written()

    def _give_up(
        self, session: Session, reminder: Reminder, reason: str, permanent: bool, now: datetime
    ) -> None:
        reminder.status, reminder.note = (
            ("unknown" if reason == "outcome_unknown" else "failed"),
            reason,
        )
        self.rt.emitter.emit(
            session,
            ReminderFailed(
                reminder_id=reminder.id,
                appointment_id=reminder.appointment_id,
                client_id=reminder.client_id,
                channel=reminder.channel,  # type: ignore[arg-type]
                kind=reminder.kind,
                reason=reason,
                permanent=permanent,
                failed_at=now,
            ),
        )
        label = reason if reason == "outcome_unknown" else reason.split(":")[0][:40]
        metrics.REMINDERS_FAILED.labels(reminder.channel, label).inc()

    # -- recovery --------------------------------------------------------------------------------

    def recover_stuck(self) -> int:
        """Settle reminders ``sending`` for longer than NOTIFIER_SENDING_TIMEOUT (their worker
        died mid-send): each is leased (``sending_since`` moved to now, so no other worker asks
        at the same time), the provider is asked outside any transaction, and the answer is
        recorded if the lease still holds. A worker killed while settling leaves the lease to
        expire and be settled again: asking is read-only."""
        now = self.rt.clock.now()
        cutoff = now - timedelta(seconds=self.settings.sending_timeout)
        statement = select(Reminder).where(
            Reminder.status == "sending", Reminder.sending_since < cutoff
        )
        leased: list[tuple[str, str, InDoubt | None]] = []
        with self.rt.db.transaction() as session:
            for reminder in session.scalars(self._locked(statement)):
                message = session.scalars(
                    select(Message)
                    .where(Message.reminder_id == reminder.id, Message.status == "sending")
                    .order_by(Message.created_at.desc())
                ).first()
                reminder.sending_since = now
                leased.append((reminder.id, reminder.channel, self._in_doubt(session, message)))
        for reminder_id, channel, doubt in leased:
            verdict = self._ask(channel, doubt)
            self._settle(reminder_id, doubt, verdict, now)
        if leased:
            self.rt.outbox_written()
        return len(leased)

    def _in_doubt(self, session: Session, message: Message | None) -> InDoubt | None:
        if message is None:
            return None
        known = session.scalars(
            select(Message.provider_id).where(
                Message.recipient == message.recipient, Message.provider_id.is_not(None)
            )
        ).all()
        return InDoubt(
            message_id=message.id,
            to=message.recipient,
            since=message.created_at,
            body_digest=message.body_digest,
            known_ids=frozenset(str(k) for k in known),
        )

    def _ask(self, channel_name: str, doubt: InDoubt | None) -> str | None | Undecided:
        """The provider id if the provider has the message, None if it certainly has not."""
        channel = self.channels.get(channel_name)
        if doubt is None or channel is None:
            return Undecided("no message in doubt to look for")
        if channel_name == "email" and channel.name != "sandbox":
            if self.settings.resend_email_in_doubt:
                return None  # the practice accepts a possible duplicate
            return Undecided("an SMTP server cannot be asked")
        look_up = getattr(channel, "look_up", None)
        if look_up is None:
            return Undecided(f"{channel.name} cannot be asked")
        try:
            return look_up(doubt)
        except Undecided as undecided:
            return undecided
        except Exception as exc:
            log.exception("settling a message in doubt failed", extra={"channel": channel_name})
            return Undecided(f"unexpected {type(exc).__name__}")

    def _settle(
        self,
        reminder_id: str,
        doubt: InDoubt | None,
        verdict: str | None | Undecided,
        lease: datetime,
    ) -> None:
        now = self.rt.clock.now()
        with self.rt.db.transaction() as session:
            reminder = session.get_one(Reminder, reminder_id, with_for_update=True)
            if reminder.status != "sending" or reminder.sending_since != lease:
                return  # settled by someone else meanwhile
            message = session.get(Message, doubt.message_id) if doubt else None
            if isinstance(verdict, Undecided) or message is None:
                for stuck in session.scalars(
                    select(Message).where(
                        Message.reminder_id == reminder.id, Message.status == "sending"
                    )
                ):
                    stuck.status, stuck.updated_at = "unknown", now
                self._give_up(session, reminder, "outcome_unknown", True, now)
                outcome = "unknown"
                log.warning(
                    "a message left in doubt needs review",
                    extra={"reminder_id": reminder.id, "why": str(verdict)},
                )
            elif verdict is not None:
                self._record_sent(session, reminder.id, message.id, message.provider, verdict, now)
                metrics.REMINDERS_SENT.labels(reminder.channel, reminder.kind).inc()
                outcome = "sent"
            else:
                message.status, message.error_code, message.updated_at = (
                    "failed",
                    "not_received",
                    now,
                )
                outcome = "resent"
                if reminder.attempts >= self.settings.max_send_attempts:
                    reason = f"gave up after {reminder.attempts} attempts: never reached provider"
                    self._give_up(session, reminder, reason, False, now)
                    fall_back(session, reminder, now)
                    outcome = "failed"
                else:
                    reminder.status, reminder.sending_since = "planned", None
                    reminder.next_attempt_at = None
                    reminder.note = "resending: the provider never received it"
            log.info(
                "message in doubt settled",
                extra={"reminder_id": reminder.id, "outcome": outcome},
            )
            metrics.IN_DOUBT_SETTLED.labels(reminder.channel, outcome).inc()


NOTICE_KINDS = ("cancellation_notice", "course_cancellation_notice")
# The SMS kinds whose wording asks the client to reply C for the one session they name.
ASKING_KINDS = ("confirmation", "reminder")


def asks_confirmation(reminder: ClaimedReminder | Reminder) -> bool:
    return reminder.channel == "sms" and reminder.kind in ASKING_KINDS and not reminder.course_id


def sessions_of(
    session: Session, reminder: ClaimedReminder, view: ClaimedView | None, now: datetime
) -> list[invites.Occurrence]:
    """The sessions a message still speaks of: its own appointment, or the course's sessions it
    was planned for as they stand now (cancelled ones dropped unless it announces the
    cancellation; started ones dropped)."""
    if reminder.course_id is None or not reminder.sessions:
        if view is None or view.starts_at <= now:
            return []
        if view.status == "cancelled" and reminder.kind not in NOTICE_KINDS:
            return []
        return [occurrence_of(view)]
    found: list[invites.Occurrence] = []
    for planned in reminder.sessions:
        current: ClaimedView | AppointmentView | None = (
            view
            if view is not None and view.appointment_id == planned["appointment_id"]
            else session.get(AppointmentView, planned["appointment_id"])
        )
        if current is not None and current.sequence > int(planned["sequence"]):
            if current.status == "cancelled" and reminder.kind not in NOTICE_KINDS:
                continue
            occurrence = occurrence_of(current)
        else:
            occurrence = invites.Occurrence(
                planned["appointment_id"],
                int(planned["sequence"]),
                datetime.fromisoformat(planned["starts_at"]),
                datetime.fromisoformat(planned["ends_at"]),
                current.location if current else None,
                current.video_url if current else None,
            )
        if occurrence.starts_at > now:
            found.append(occurrence)
    return sorted(found, key=lambda o: o.starts_at)


def occurrence_of(view: ClaimedView | AppointmentView) -> invites.Occurrence:
    return invites.Occurrence(
        view.appointment_id,
        view.sequence,
        view.starts_at,
        view.ends_at,
        view.location,
        view.video_url,
    )


def fall_back(session: Session, reminder: Reminder, now: datetime) -> None:
    """Try the client's other allowed channel, unless a message there already covers it."""
    contact = session.get(ClientContact, reminder.client_id)
    view = session.get(AppointmentView, reminder.appointment_id)
    if contact is None or view is None or reminder.fallback_of is not None:
        return
    other = planning.other_channel(reminder.channel, recipient_of(contact))
    cancelled = view.status == "cancelled" and reminder.kind not in NOTICE_KINDS
    if other is None or view.starts_at <= now or cancelled:
        return
    covering = session.scalars(
        select(Reminder).where(
            Reminder.appointment_id == reminder.appointment_id,
            Reminder.kind == reminder.kind,
            Reminder.channel == other,
            Reminder.status.in_(IN_PLAN),
        )
    ).all()
    if any(abs(r.due_at - reminder.due_at) <= FALLBACK_WINDOW for r in covering):
        return
    session.add(
        new_reminder(
            view,
            reminder.kind,
            other,
            now,
            now,
            fallback_of=reminder.id,
            course_id=reminder.course_id,
            sessions=reminder.sessions,
        )
    )


def channel_is_async(provider: str) -> bool:
    """Twilio reports delivery later through the status callback."""
    return provider == "twilio"


def due_backlog(rt: Runtime) -> list[tuple[str, int, float]]:
    now = rt.clock.now()
    with rt.db.sessions() as session:
        rows = session.execute(
            select(Reminder.channel, Reminder.due_at).where(
                Reminder.status.in_(("planned", "sending")), Reminder.due_at <= now
            )
        ).all()
    result = []
    for channel in ("sms", "email"):
        dues = [due for c, due in rows if c == channel]
        oldest = (now - min(dues)).total_seconds() if dues else 0.0
        result.append((channel, len(dues), oldest))
    return result
