"""iCalendar feeds (RFC 5545) of a practitioner's or a client's sessions, behind a secret URL.

Each feed holds the sessions that ended at most 90 days ago and everything later, plus
cancellations of the last 30 days (STATUS:CANCELLED, so subscribed calendars remove them). It
carries as little health information as possible: a client's feed says "Appointment with
<practitioner>" and where; a practitioner's feed says the client's first name and last
initial and the service type."""

from __future__ import annotations

import functools
import hashlib
import secrets
import threading
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import icalendar
from flask import Blueprint, Response, request
from sqlalchemy import ColumnElement, Connection, Select, bindparam, func, or_, select, true
from sqlalchemy.orm import Session

from services.scheduler import metrics
from services.scheduler.tables import Appointment, Client, Practice, Practitioner, ServiceType
from shared.auth import public
from shared.http import Problem
from shared.ical import add_join_link, add_timezones
from shared.web import runtime

feeds = Blueprint("scheduler_feeds", __name__, url_prefix="/feeds")

KINDS: dict[str, type[Practitioner] | type[Client]] = {
    "practitioner": Practitioner,
    "client": Client,
}
PAST = timedelta(days=90)
CANCELLED_KEPT = timedelta(days=30)
REFRESH = timedelta(minutes=15)
PRODID = "-//Rapport//Scheduler//EN"


def new_token() -> str:
    """256 bits from the OS's CSPRNG, URL-safe."""
    return secrets.token_urlsafe(32)


def feed_url(public_url: str, kind: str, token: str) -> str:
    return f"{public_url}/feeds/{kind}/{token}.ics"


def _short_name(client: Client) -> str:
    return f"{client.first_name} {client.last_name[:1]}.".strip()


def build_calendar(
    session: Session, kind: str, owner: Practitioner | Client, now: datetime
) -> tuple[bytes, datetime]:
    """The feed's bytes and when its content last changed."""
    rows = list(
        session.scalars(
            select(Appointment)
            .where(*_in_feed(kind, owner.id, now - PAST, now - CANCELLED_KEPT))
            .order_by(Appointment.starts_at, Appointment.id)
        )
    )
    names = _names(session, rows, kind)
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    title = (
        f"{owner.display_name} — sessions"
        if isinstance(owner, Practitioner)
        else "Therapy appointments"
    )
    calendar.add("x-wr-calname", title)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", icalendar.vDuration(REFRESH))
    for a in rows:
        event = icalendar.Event()
        event.add("uid", f"{a.id}@rapport")
        event.add("dtstamp", a.updated_at.astimezone(UTC))
        event.add("last-modified", a.updated_at.astimezone(UTC))
        event.add("sequence", a.sequence)
        zone = ZoneInfo(a.time_zone)
        event.add("dtstart", a.starts_at.astimezone(zone))
        event.add("dtend", a.ends_at.astimezone(zone))
        if kind == "client":
            event.add("summary", f"Appointment with {names[a.practitioner_id]}")
        else:
            event.add("summary", f"{names[a.client_id]} — {names[a.service_type_id]}")
        if a.location or a.video_url:
            event.add("location", a.location or a.video_url)
        if a.video_url:
            add_join_link(event, a.video_url)
        event.add("status", "CANCELLED" if a.status == "cancelled" else "CONFIRMED")
        event.add("transp", "TRANSPARENT" if a.status == "cancelled" else "OPAQUE")
        calendar.add_component(event)
    if rows:
        # A VTIMEZONE covering only the years the feed needs, one component per transition,
        # which icalendar, vobject and dateutil read alike (shared.ical says why).
        add_timezones(
            calendar,
            date(min(a.starts_at for a in rows).year - 1, 1, 1),
            date(max(a.ends_at for a in rows).year + 2, 1, 1),
        )
    changed = max((a.updated_at for a in rows), default=datetime(2000, 1, 1, tzinfo=UTC))
    return calendar.to_ical(), changed


def _in_feed(kind: str, owner_id: Any, past: Any, kept: Any) -> tuple[ColumnElement[bool], ...]:
    """The owner's sessions that ended at ``past`` or later (90 days ago), less the
    cancellations from before ``kept`` (30 days ago): the rows a feed shows, and the rows its
    version is taken over. Table columns, not ORM attributes, so that ``find_feed``'s statement
    stays plain Core."""
    rows = Appointment.__table__.c
    column = rows.practitioner_id if kind == "practitioner" else rows.client_id
    return (
        column == owner_id,
        rows.ends_at >= past,
        or_(rows.status != "cancelled", func.coalesce(rows.cancelled_at, rows.updated_at) >= kept),
    )


def _names(session: Session, rows: list[Appointment], kind: str) -> dict[str, str]:
    names: dict[str, str] = {}
    if kind == "client":
        ids = {a.practitioner_id for a in rows}
        for p in session.scalars(select(Practitioner).where(Practitioner.id.in_(ids))):
            names[p.id] = p.display_name
        return names
    for c in session.scalars(select(Client).where(Client.id.in_({a.client_id for a in rows}))):
        names[c.id] = _short_name(c)
    service_types = {a.service_type_id for a in rows}
    for s in session.scalars(select(ServiceType).where(ServiceType.id.in_(service_types))):
        names[s.id] = s.name
    return names


# Bump when the calendar's layout changes, so that clients holding an old ETag fetch it again.
LAYOUT = "3"


@functools.cache
def _version_query(kind: str) -> Select[Any]:
    """The statement ``find_feed`` runs, built once per kind with its inputs as parameters
    (building it and its cache key anew cost more Python time than PostgreSQL took to run it).

    Plain Core over the tables: a 304 needs three of the owner's columns, not an ORM object (the
    rare calendar build loads that). The feed's rows are aggregated on their own, per client or
    practitioner and service type, and only those few groups are joined to the names'
    revisions: joined row by row, each of a thousand sessions carried the owner's whole row
    into a sort before the aggregate, which more than doubled what PostgreSQL spent on the
    statement. The sums come out the same (a group's revision counted once per session in it),
    and so does the ETag."""
    owner = KINDS[kind].__table__
    rows = Appointment.__table__
    party = (Practitioner if kind == "client" else Client).__table__
    service_type = ServiceType.__table__
    party_id = rows.c.practitioner_id if kind == "client" else rows.c.client_id
    owner_id = select(owner.c.id).where(owner.c.feed_token == bindparam("token")).scalar_subquery()
    groups = (
        select(
            party_id.label("party_id"),
            rows.c.service_type_id,
            func.count().label("sessions"),
            func.max(rows.c.updated_at).label("changed"),
            func.sum(rows.c.sequence).label("sequences"),
        )
        .where(*_in_feed(kind, owner_id, bindparam("past"), bindparam("kept")))
        .group_by(party_id, rows.c.service_type_id)
        .subquery()
    )
    practice = select(func.coalesce(func.max(Practice.__table__.c.revision), 0)).scalar_subquery()
    totals = (
        select(
            func.coalesce(func.sum(groups.c.sessions), 0),
            func.max(groups.c.changed),
            func.coalesce(func.sum(groups.c.sequences), 0),
            func.coalesce(func.sum(groups.c.sessions * party.c.revision), 0),
            func.coalesce(func.sum(groups.c.sessions * service_type.c.revision), 0),
            practice,
        )
        .select_from(groups)
        .outerjoin(party, party.c.id == groups.c.party_id)
        .outerjoin(service_type, service_type.c.id == groups.c.service_type_id)
        .subquery()
    )
    # An aggregate without GROUP BY is always one row: joined on true, it only adds columns.
    return (
        select(owner.c.id, owner.c.revision, owner.c.active, totals)
        .select_from(owner)
        .join(totals, true())
        .where(owner.c.feed_token == bindparam("token"))
    )


class Found(NamedTuple):
    """What a conditional request needs to know of a feed, without building it."""

    owner_id: str
    active: bool
    etag: str
    changed: datetime


def find_feed(connection: Connection, kind: str, token: str, now: datetime) -> Found | None:
    """The feed's owner, ETag and Last-Modified in one round trip: the owner found by its
    token, and one aggregate over the feed's rows (read through the owner's index, by end time
    for a practitioner), without loading a session or building the calendar.

    It rests on what every write to a session does: any change to what a calendar shows of it
    (time, zone, place, link, status) bumps its ``sequence`` and sets ``updated_at`` to the
    app clock's now (``lifecycle.transition``, the place edit, self-service links), and a rename
    of a client, practitioner or service type bumps its ``revision``. So, between two requests:
    a session booked, changed or moved into the window raises ``max(updated_at)`` (the clock
    has moved on) and ``sum(sequence)`` (it has not); one leaving the window (ended more than
    90 days ago, cancelled more than 30 days ago) lowers the count; a rename raises the sum of
    the revisions over the rows that show the name. The owner's own revision and feed token, and
    the practice's revision, are hashed in too, so a rotated link or a practice edit also
    gives a new ETag."""
    row = connection.execute(
        _version_query(kind),
        {"token": token, "past": now - PAST, "kept": now - CANCELLED_KEPT},
    ).first()
    if row is None:
        return None
    owner_id, revision, active, count, last, *sums = row
    # PostgreSQL sums bigints as numeric: back to int, for the ETag's text to stay what it was.
    key = (LAYOUT, PRODID, kind, owner_id, revision, token, int(count), last, *map(int, sums))
    etag = '"' + hashlib.sha256(repr(key).encode()).hexdigest()[:32] + '"'
    return Found(owner_id, active, etag, last or datetime(2000, 1, 1, tzinfo=UTC))


class BuiltFeeds:
    """Calendars already built, by ETag (which covers everything a calendar is built from), so
    that a calendar app fetching an unchanged feed without a conditional header does not pay
    for building it again. Bounded in bytes, least recently used first out; one per process."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.bodies: OrderedDict[str, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, etag: str) -> bytes | None:
        with self.lock:
            body = self.bodies.get(etag)
            if body is not None:
                self.bodies.move_to_end(etag)
            return body

    def put(self, etag: str, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        with self.lock:
            if etag in self.bodies:
                return
            self.bodies[etag] = body
            self.size += len(body)
            while self.size > self.max_bytes:
                _, oldest = self.bodies.popitem(last=False)
                self.size -= len(oldest)


BUILT = BuiltFeeds(max_bytes=8_000_000)


@feeds.get("/<kind>/<token>.ics")
@public
def serve_feed(kind: str, token: str) -> Any:
    rt = runtime()
    now = rt.clock.now()
    found = None
    if kind in KINDS and len(token) >= 40:
        # A 304 is this one statement: no BEGIN, ROLLBACK or session around it.
        with rt.db.statements_alone() as connection:
            found = find_feed(connection, kind, token, now)
    if found is None or not found.active:
        raise _gone()
    changed = found.changed.replace(microsecond=0)
    body = None
    if not _not_modified(found.etag, changed):
        body = BUILT.get(found.etag)
        if body is None:
            body = _build(kind, found.owner_id, now)
            BUILT.put(found.etag, body)
    headers = {
        "ETag": found.etag,
        "Last-Modified": format_datetime(changed.astimezone(UTC), usegmt=True),
        "Cache-Control": "private, max-age=300",
        "X-Robots-Tag": "noindex",
        "Referrer-Policy": "no-referrer",
    }
    if body is None:
        metrics.FEED_REQUESTS.labels("304").inc()
        return Response(status=304, headers=headers)
    metrics.FEED_REQUESTS.labels("200").inc()
    return Response(body, status=200, headers=headers, content_type="text/calendar; charset=utf-8")


def _build(kind: str, owner_id: str, now: datetime) -> bytes:
    with runtime().db.reads() as session:
        owner = session.get(KINDS[kind], owner_id)
        if not isinstance(owner, Practitioner | Client):  # gone since find_feed read it
            raise _gone()
        return build_calendar(session, kind, owner, now)[0]


def _gone() -> Problem:
    metrics.FEED_REQUESTS.labels("404").inc()
    return Problem(
        404,
        "Not found",
        "This calendar link is not valid (it may have been replaced by a new one).",
    )


def _not_modified(etag: str, changed: datetime) -> bool:
    """RFC 9110: If-None-Match wins over If-Modified-Since when both are sent."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return etag in tags or "*" in tags
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return changed <= when
    return False
