"""A session's self-service link: the secret in the client's messages that opens one page where
they confirm, cancel, add the session to their calendar or ask to move it, without signing in.

A link stands for one session. It is a random token in the scheduler's database (so the desk
can revoke it), valid until the session ends; the appointment's events carry it to the
notifier, which puts ``<public URL>/s/<token>`` in confirmations and reminders."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, object_session

from services.scheduler import domain
from services.scheduler.tables import Appointment, SelfServiceLink
from shared.ical import add_join_link, add_timezones

# 96 bits from the OS's CSPRNG in 16 URL-safe characters: unguessable (each guess costs a
# request), and short enough to leave an ordinary SMS in one segment.
TOKEN_BYTES = 12
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16}$")
PRODID = "-//Rapport//Self-service//EN"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def link_url(public_url: str, token: str) -> str:
    return f"{public_url}/s/{token}"


def live_token(appointment: Appointment) -> str | None:
    """The token of the session's live link, made on first need (an appointment's first event,
    or its next one after the desk revoked the last link). None for a session not in a
    database session (nothing could find its link)."""
    session = object_session(appointment)
    if session is None:
        return None
    token = session.scalars(
        select(SelfServiceLink.token).where(
            SelfServiceLink.appointment_id == appointment.id,
            SelfServiceLink.revoked_at.is_(None),
        )
    ).first()
    if token is None:
        token = new_token()
        session.add(
            SelfServiceLink(
                token=token, appointment_id=appointment.id, created_at=appointment.updated_at
            )
        )
        session.flush()
    return token


_INSERT_LINK = insert(SelfServiceLink.metadata.tables[SelfServiceLink.__tablename__])


def first_link(session: Session, appointment: Appointment) -> str:
    """The token of the first link of a session just inserted, made without looking for one
    (none can exist yet), in one INSERT outside the unit of work."""
    token = new_token()
    session.execute(
        _INSERT_LINK,
        {"token": token, "appointment_id": appointment.id, "created_at": appointment.updated_at},
    )
    return token


def is_live(link: SelfServiceLink, appointment: Appointment, now: datetime) -> bool:
    """Not revoked, and the session has not ended yet."""
    return link.revoked_at is None and now < appointment.ends_at


def find(
    session: Session, token: str, now: datetime, *, lock: bool = False
) -> tuple[SelfServiceLink, Appointment] | None:
    """The live link and its session, or None (unknown, malformed, revoked or expired)."""
    if not TOKEN_SHAPE.match(token):
        return None
    link = session.get(SelfServiceLink, token)
    if link is None:
        return None
    appointment = session.get(Appointment, link.appointment_id, with_for_update=lock)
    if appointment is not None and lock:
        # Locked after its session, in the order the desk's revoke takes them, and read again:
        # a request that waited for another on the same link sees what that one did.
        session.refresh(link, with_for_update=True)
    if appointment is None or not is_live(link, appointment, now):
        return None
    return link, appointment


def revoke(session: Session, appointment_id: str, now: datetime) -> int:
    """Revoke the session's live links; how many there were."""
    links = session.scalars(
        select(SelfServiceLink).where(
            SelfServiceLink.appointment_id == appointment_id,
            SelfServiceLink.revoked_at.is_(None),
        )
    ).all()
    for link in links:
        link.revoked_at = now
    return len(links)


def form_nonce(secret: str, token: str) -> str:
    """The page's forms carry this: only whoever was served the page (and so holds the token)
    can post to it, and another site cannot make a client's browser do so."""
    return hmac.new(secret.encode(), b"self-service:" + token.encode(), hashlib.sha256).hexdigest()


def nonce_matches(secret: str, token: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(str(sent), form_nonce(secret, token))


@dataclass(frozen=True)
class Choices:
    """What the client may do on the page now, and what cancelling would cost."""

    confirm: bool
    cancel: bool
    cancel_is_late: bool
    reschedule: bool
    cancellation_off: bool


def choices(
    appointment: Appointment,
    now: datetime,
    *,
    window: timedelta,
    client_cancellation: bool,
) -> Choices:
    upcoming = appointment.starts_at > now
    active = appointment.status in {"booked", "confirmed"} and upcoming
    return Choices(
        confirm=appointment.status == "booked" and upcoming,
        cancel=active and client_cancellation,
        cancel_is_late=domain.is_late_cancellation(appointment.starts_at, now, window),
        reschedule=active,
        cancellation_off=active and not client_cancellation,
    )


def session_calendar(
    appointment: Appointment, practitioner: str, where: str | None, now: datetime
) -> bytes:
    """The one session as an iCalendar file, with the same UID as the client's feed so that a
    calendar holding both keeps one event."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    event = icalendar.Event()
    event.add("uid", f"{appointment.id}@rapport")
    event.add("dtstamp", now)
    event.add("sequence", appointment.sequence)
    zone = ZoneInfo(appointment.time_zone)
    event.add("dtstart", appointment.starts_at.astimezone(zone))
    event.add("dtend", appointment.ends_at.astimezone(zone))
    event.add("summary", f"Appointment with {practitioner}")
    if where:
        event.add("location", where)
    if appointment.video_url:
        add_join_link(event, appointment.video_url)
    cancelled = appointment.status == "cancelled"
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    calendar.add_component(event)
    year = appointment.starts_at.year
    add_timezones(calendar, date(year - 1, 1, 1), date(year + 2, 1, 1))
    return bytes(calendar.to_ical())
