"""Refilling freed slots from the waiting list.

A cancelled session, or one moved away, leaves an opening. The refill loop (application clock)
expires offers past their time, withdraws offers and closes openings the desk has booked
meanwhile, and offers each open opening to the waiting clients it suits, by priority and then
by who waited longest: one at a time or the next N at once, as the practice sets. The first
client to accept books the slot through the desk's own booking path; the opening's row lock
makes concurrent acceptances take turns, so the later ones find it taken.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.scheduler import domain, metrics, waitlist
from services.scheduler.api.appointments import (
    booking_parties,
    new_appointment,
    overlapping,
    refuse_past,
)
from services.scheduler.api.availability import working_time
from services.scheduler.tables import (
    Appointment,
    Client,
    Practice,
    Practitioner,
    ServiceType,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistOpening,
)
from shared.contracts import Contract
from shared.contracts.waitlist import OfferClosed, OfferMade
from shared.http import Problem
from shared.service import Runtime

log = logging.getLogger(__name__)
Emit = Callable[[Contract], object]
DEFAULT_INTERVAL = 15.0
# Who the audit log names for a booking made by accepting an offer.
OFFER_LINK_ACTOR = ("offer-link", "client")


def token_digest(token: str) -> str:
    """Offer links are stored as their SHA-256, so the database never holds a usable link."""
    return hashlib.sha256(token.encode()).hexdigest()


def record_opening(
    session: Session,
    practitioner_id: str,
    starts_at: datetime,
    ends_at: datetime,
    cause: str,
    now: datetime,
    freed_by: str | None = None,
) -> None:
    """Note time that became free (a session cancelled or moved away, extra hours added), for
    the refill loop to offer."""
    if starts_at <= now:
        return
    session.add(
        WaitlistOpening(
            id=str(uuid.uuid4()),
            practitioner_id=practitioner_id,
            starts_at=starts_at,
            ends_at=ends_at,
            cause=cause,
            freed_by=freed_by,
            freed_at=now,
            status="open",
        )
    )


class Refill:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.interval = float(
            rt.settings.extra.get("SCHEDULER_WAITLIST_INTERVAL", DEFAULT_INTERVAL)
        )

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("waiting-list refill failed; trying again")
            stop.wait(self.interval)

    def run_once(self) -> None:
        now = self.rt.clock.now()
        with self.rt.db.transaction() as session:
            emit = self._emitter(session)
            expire_offers(session, now, emit)
            withdraw_stale(session, now, emit)
        with self.rt.db.transaction() as session:
            offer_openings(session, now, self._emitter(session), self.rt.settings.public_url)
        self.rt.outbox_written()

    def _emitter(self, session: Session) -> Emit:
        return lambda contract: self.rt.emitter.emit(session, contract)


def _skip_locked(session: Session, statement: Any) -> Any:
    """Row locks another refill loop or an acceptance holds are left to it (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        return statement.with_for_update(skip_locked=True)
    return statement


def close(
    offer: WaitlistOffer,
    outcome: str,
    now: datetime,
    emit: Emit,
    answered_by: str | None = None,
) -> None:
    offer.status, offer.closed_at = outcome, now
    offer.answered_by = answered_by or offer.answered_by
    emit(
        OfferClosed(
            offer_id=offer.id,
            client_id=offer.client_id,
            outcome=outcome,  # type: ignore[arg-type]
            answered_by=answered_by,  # type: ignore[arg-type]
            appointment_id=offer.appointment_id,
            closed_at=now,
        )
    )
    metrics.WAITLIST_OFFER_OUTCOMES.labels(outcome).inc()


def expire_offers(session: Session, now: datetime, emit: Emit) -> None:
    statement = select(WaitlistOffer).where(
        WaitlistOffer.status == "open", WaitlistOffer.expires_at <= now
    )
    for offer in session.scalars(_skip_locked(session, statement)).all():
        close(offer, "expired", now, emit)


def withdraw_stale(session: Session, now: datetime, emit: Emit) -> None:
    """Openings that started or that the desk booked meanwhile close, withdrawing their open
    offers; so does an offer whose client got another session at that time."""
    openings = session.scalars(
        _skip_locked(session, select(WaitlistOpening).where(WaitlistOpening.status == "open"))
    ).all()
    for opening in openings:
        span = domain.Interval(opening.starts_at, opening.ends_at)
        booked = _practitioner_busy(session, opening.practitioner_id, span)
        offers = _open_offers(session, opening.id)
        if opening.starts_at <= now or any(span.overlaps(b) for b in booked):
            opening.status, opening.closed_at = "closed", now
            for offer in offers:
                close(offer, "withdrawn", now, emit)
            continue
        for offer in offers:
            slot = domain.Interval(offer.starts_at, offer.ends_at)
            if _client_busy(session, offer.client_id, slot):
                close(offer, "withdrawn", now, emit)


def _open_offers(session: Session, opening_id: str) -> list[WaitlistOffer]:
    statement = select(WaitlistOffer).where(
        WaitlistOffer.opening_id == opening_id, WaitlistOffer.status == "open"
    )
    return list(session.scalars(_skip_locked(session, statement)).all())


def _practitioner_busy(
    session: Session, practitioner_id: str, around: domain.Interval, margin: timedelta = timedelta()
) -> list[domain.Interval]:
    rows = session.execute(
        select(Appointment.starts_at, Appointment.ends_at).where(
            Appointment.practitioner_id == practitioner_id,
            Appointment.status.in_(domain.ACTIVE_STATUSES),
            Appointment.starts_at < around.end + margin,
            Appointment.ends_at > around.start - margin,
        )
    ).all()
    return [domain.Interval(a, b) for a, b in rows]


def _client_busy(session: Session, client_id: str, slot: domain.Interval) -> bool:
    return (
        session.scalar(
            select(func.count()).where(
                Appointment.client_id == client_id,
                Appointment.status.in_(domain.ACTIVE_STATUSES),
                Appointment.starts_at < slot.end,
                Appointment.ends_at > slot.start,
            )
        )
        or 0
    ) > 0


# -- making offers ---------------------------------------------------------------------------


def offer_openings(session: Session, now: datetime, emit: Emit, public_url: str) -> int:
    practice = session.scalars(select(Practice)).first()
    mode = practice.waitlist_mode if practice else "one_at_a_time"
    batch = practice.waitlist_batch if practice else 3
    minutes = practice.waitlist_offer_minutes if practice else 120
    statement = (
        select(WaitlistOpening)
        .where(WaitlistOpening.status == "open", WaitlistOpening.starts_at > now)
        .order_by(WaitlistOpening.starts_at, WaitlistOpening.id)
    )
    made = 0
    for opening in session.scalars(_skip_locked(session, statement)).all():
        offers = session.scalars(
            select(WaitlistOffer).where(WaitlistOffer.opening_id == opening.id)
        ).all()
        wanted = waitlist.offers_to_make(mode, batch, sum(1 for o in offers if o.status == "open"))
        if not wanted:
            continue
        chosen = candidates(session, opening, {o.entry_id for o in offers}, wanted)
        if chosen and not offers:
            metrics.WAITLIST_SLOTS_OFFERED.inc()
        for entry, slot, zone in chosen:
            _make_offer(session, opening, entry, slot, zone, now, minutes, emit, public_url)
            made += 1
    return made


def candidates(
    session: Session, opening: WaitlistOpening, offered: set[str], limit: int
) -> list[tuple[WaitlistEntry, domain.Interval, str]]:
    """The waiting entries the opening suits, best first, with the session each would get and
    the practitioner's zone; entries offered this opening before, or holding an open offer for
    another one, wait their turn."""
    practitioner = session.get(Practitioner, opening.practitioner_id)
    if practitioner is None or not practitioner.active:
        return []
    holding = set(
        session.scalars(select(WaitlistOffer.entry_id).where(WaitlistOffer.status == "open"))
    )
    entries = session.scalars(
        select(WaitlistEntry)
        .where(WaitlistEntry.status == "waiting")
        .order_by(WaitlistEntry.priority.desc(), WaitlistEntry.created_at, WaitlistEntry.id)
    ).all()
    span = domain.Interval(opening.starts_at, opening.ends_at)
    schedule = _PractitionerDay(session, practitioner, span)
    chosen: list[tuple[WaitlistEntry, domain.Interval, str]] = []
    for entry in entries:
        if entry.id in offered or entry.id in holding:
            continue
        if entry.practitioner_ids and practitioner.id not in entry.practitioner_ids:
            continue
        service_type = session.get(ServiceType, entry.service_type_id)
        client = session.get(Client, entry.client_id)
        if service_type is None or client is None or not (service_type.active and client.active):
            continue
        slot = waitlist.slot_for(span, service_type.duration)
        if slot is None or not waitlist.suits_client(slot, wish_of(entry, client.time_zone)):
            continue
        if not schedule.suits(slot) or _client_busy(session, client.id, slot):
            continue
        chosen.append((entry, slot, practitioner.time_zone))
        if len(chosen) >= limit:
            break
    return chosen


def wish_of(entry: WaitlistEntry, time_zone: str) -> waitlist.Wish:
    return waitlist.Wish(
        windows=tuple(
            waitlist.Window(
                w["weekday"], waitlist.minutes_of(w["start"]), waitlist.minutes_of(w["end"])
            )
            for w in entry.windows
        ),
        earliest=entry.earliest_date,
        latest=entry.latest_date,
        time_zone=time_zone,
    )


class _PractitionerDay:
    """The practitioner's working time, time off and sessions around a freed span."""

    def __init__(self, session: Session, practitioner: Practitioner, span: domain.Interval) -> None:
        start, end = span.start - timedelta(days=1), span.end + timedelta(days=1)
        working, extra, self.blocked = working_time(session, practitioner, start, end)
        self.working = working + extra
        self.buffer = timedelta(minutes=practitioner.buffer_minutes)
        self.busy = _practitioner_busy(session, practitioner.id, span, timedelta(days=1))

    def suits(self, slot: domain.Interval) -> bool:
        return waitlist.suits_practitioner(
            slot, working=self.working, blocked=self.blocked, busy=self.busy, buffer=self.buffer
        )


def _make_offer(
    session: Session,
    opening: WaitlistOpening,
    entry: WaitlistEntry,
    slot: domain.Interval,
    zone: str,
    now: datetime,
    minutes: int,
    emit: Emit,
    public_url: str,
) -> None:
    token = secrets.token_urlsafe(32)
    offer = WaitlistOffer(
        id=str(uuid.uuid4()),
        entry_id=entry.id,
        opening_id=opening.id,
        client_id=entry.client_id,
        practitioner_id=opening.practitioner_id,
        service_type_id=entry.service_type_id,
        starts_at=slot.start,
        ends_at=slot.end,
        token=token_digest(token),
        status="open",
        offered_at=now,
        expires_at=waitlist.expires(now, minutes, slot.start),
    )
    session.add(offer)
    emit(
        OfferMade(
            offer_id=offer.id,
            client_id=offer.client_id,
            practitioner_id=offer.practitioner_id,
            starts_at=offer.starts_at,
            ends_at=offer.ends_at,
            time_zone=zone,
            expires_at=offer.expires_at,
            accept_url=f"{public_url}/offers/{token}",
        )
    )
    metrics.WAITLIST_OFFERS.inc()


# -- accepting -------------------------------------------------------------------------------


def accept(
    session: Session,
    offer_id: str,
    via: str,
    now: datetime,
    emit: Emit,
    actor: tuple[str, str],
) -> WaitlistOffer | None:
    """Book the offered slot for its client, if the offer is still open and the slot still
    free; otherwise the offer is (or stays) closed and, answered, reads as taken. The offer's
    row lock makes one client's repeated acceptances take turns, the opening's makes different
    clients' acceptances of one slot take turns; the database's exclusion constraints stop a
    desk booking racing past both (the caller runs the transaction again)."""
    offer = session.get(WaitlistOffer, offer_id, with_for_update=True)
    if offer is None or offer.status == "accepted":
        return offer
    if offer.status == "open" and offer.expires_at <= now:
        close(offer, "expired", now, emit)
        return offer
    if offer.status != "open":
        if offer.status != "expired" and offer.answered_by is None:
            _tell_taken(offer, now, emit, via)
        return offer
    opening = session.get_one(WaitlistOpening, offer.opening_id, with_for_update=True)
    entry = session.get_one(WaitlistEntry, offer.entry_id, with_for_update=True)
    wanted = domain.Interval(offer.starts_at, offer.ends_at)
    try:
        if opening.status != "open" or entry.status != "waiting":
            raise Problem(409, "Taken", "This time is no longer free.")
        client, practitioner, service_type = booking_parties(
            session, offer.client_id, offer.practitioner_id, offer.service_type_id
        )
        refuse_past(wanted.start, now)
        if overlapping(session, wanted, practitioner.id, client.id) is not None:
            raise Problem(409, "Taken", "This time is no longer free.")
    except Problem:
        close(offer, "taken", now, emit, via)
        return offer
    appointment = new_appointment(
        session,
        client=client,
        practitioner=practitioner,
        service_type=service_type,
        wanted=wanted,
        location=None,
        booked_by=actor[0],
        now=now,
        emit=emit,
        actor=actor,
    )
    offer.appointment_id = entry.appointment_id = appointment.id
    close(offer, "accepted", now, emit, via)
    opening.status, opening.closed_at = "filled", now
    entry.status, entry.updated_at = "booked", now
    for other in _open_offers(session, opening.id):
        close(other, "taken", now, emit)
    metrics.WAITLIST_REFILLED.labels(via).inc()
    metrics.WAITLIST_REFILL_SECONDS.observe(max(0.0, (now - opening.freed_at).total_seconds()))
    return offer


def _tell_taken(offer: WaitlistOffer, now: datetime, emit: Emit, via: str) -> None:
    """A client answering an offer that went to someone else (or was withdrawn) is told so,
    once; the offer keeps its own outcome for the desk."""
    offer.answered_by = via
    emit(
        OfferClosed(
            offer_id=offer.id,
            client_id=offer.client_id,
            outcome="taken",
            answered_by=via,  # type: ignore[arg-type]
            closed_at=offer.closed_at or now,
        )
    )


def open_offers_of(session: Session, entry_id: str) -> list[WaitlistOffer]:
    """An entry's open offers, locked: taken before the entry's own row, in the order an
    acceptance takes them (offer, freed slot, entry), so the two never wait on each other."""
    return list(
        session.scalars(
            select(WaitlistOffer)
            .where(WaitlistOffer.entry_id == entry_id, WaitlistOffer.status == "open")
            .order_by(WaitlistOffer.id)
            .with_for_update()
        ).all()
    )
