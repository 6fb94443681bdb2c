"""This week's demo sessions, so the first screen of `make run` shows the product: sessions
before now completed, checked in or missed, later ones booked, confirmed or cancelled, with
their events published like any other (the notifier plans reminders, billing invoices)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from services.scheduler import lifecycle
from services.scheduler.events import appointment_event, client_snapshot
from services.scheduler.tables import Appointment, Client, Practice, Practitioner, ServiceType
from shared.contracts.appointments import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentCompleted,
    AppointmentConfirmed,
    AppointmentNoShow,
)
from shared.demo import demo_id as _id

CLIENTS = (
    ("client-alex", "Alex", "Moreno", "alex.moreno@example.com"),
    ("client-sofia", "Sofia", "Chen", "sofia.chen@example.com"),
    ("client-dana", "Dana", "Whitfield", "dana.whitfield@example.com"),
    ("client-lee", "Lee", "Okonkwo", "lee.okonkwo@example.com"),
)

# (weekday, practice wall time, practitioner, client, service type), inside each practitioner's
# hours (Dr. Rivera 9-17 New York; Sam Okafor 10-18 Chicago, Fridays 8-12).
SESSIONS = (
    (0, time(9, 0), "dr-rivera", "client-alex", "ipt-session"),
    (0, time(14, 0), "sam-okafor", "client-sofia", "ipt-intake"),
    (1, time(9, 0), "dr-rivera", "client-dana", "ipt-session"),
    (1, time(15, 0), "sam-okafor", "client-alex", "phone-check-in"),
    (2, time(13, 30), "dr-rivera", "client-sofia", "ipt-session"),
    (2, time(16, 0), "sam-okafor", "client-dana", "ipt-session"),
    (3, time(9, 0), "dr-rivera", "client-lee", "ipt-intake"),
    (3, time(12, 0), "sam-okafor", "client-sofia", "ipt-session"),
    (3, time(15, 0), "dr-rivera", "client-alex", "ipt-session"),
    (4, time(10, 0), "sam-okafor", "client-lee", "phone-check-in"),
    (4, time(14, 0), "dr-rivera", "client-dana", "ipt-session"),
)

ACTOR = ("demo", "system")


def seed_week(rt: Any) -> int:
    """Book this week's demo sessions once (none when the practice already has sessions);
    returns how many were booked."""
    now = rt.clock.now()
    with rt.db.transaction() as session:
        practice = session.scalars(select(Practice)).first()
        if practice is None or session.scalars(select(Appointment).limit(1)).first():
            return 0
        zone = ZoneInfo(practice.time_zone)
        monday = now.astimezone(zone).date()
        monday -= timedelta(days=monday.weekday())
        clients = _clients(rt, session, now)

        def emit(contract: Any) -> None:
            rt.emitter.emit(session, contract)

        for n, (weekday, wall, who, client_key, service_key) in enumerate(SESSIONS):
            practitioner = session.get(Practitioner, _id(who))
            service_type = session.get(ServiceType, _id(service_key))
            starts = datetime.combine(monday + timedelta(days=weekday), wall, zone)
            appointment = Appointment(
                id=_id(f"demo-week-{n}"),
                sequence=1,
                status="booked",
                client_id=clients[client_key].id,
                practitioner_id=practitioner.id,
                service_type_id=service_type.id,
                starts_at=starts,
                ends_at=starts + service_type.duration,
                time_zone=practitioner.time_zone,
                location=practitioner.location,
                booked_by="demo",
                created_at=now - timedelta(days=7),
                updated_at=now,
            )
            session.add(appointment)
            session.flush()
            emit(appointment_event(AppointmentBooked, appointment))
            for action, event, extra in _steps(n, starts, now):
                lifecycle.apply(
                    session, appointment, action, event, now=now, emit=emit, actor=ACTOR, **extra
                )
    rt.outbox_written()
    return len(SESSIONS)


def _steps(n: int, starts: datetime, now: datetime) -> list[tuple[str, Any, dict[str, Any]]]:
    """What has happened to session n by now: several states on any day of the week."""
    if starts <= now:
        if now - starts < timedelta(hours=1):
            return [("check_in", AppointmentCheckedIn, {})]
        if n % 4 == 3:
            return [("no_show", AppointmentNoShow, {})]
        return [("check_in", AppointmentCheckedIn, {}), ("complete", AppointmentCompleted, {})]
    if n % 3 == 1:
        return [("confirm", AppointmentConfirmed, {})]
    if n % 5 == 4:
        reason = "Practitioner unwell"
        changes = {
            "cancelled_by": "practice",
            "cancellation_reason": reason,
            "late_cancellation": False,
            "cancelled_at": now,
        }
        cancel = {"changes": changes, "audit_reason": reason, "cancelled_by": "practice"}
        return [("cancel", AppointmentCancelled, cancel | {"reason": reason, "late": False})]
    return []


def _clients(rt: Any, session: Any, now: datetime) -> dict[str, Client]:
    found = {}
    for key, first, last, email in CLIENTS:
        client = session.get(Client, _id(key))
        if client is None:
            client = Client(
                id=_id(key),
                first_name=first,
                last_name=last,
                email=email,
                phone=None,
                preferred_channels="email",
                time_zone="America/New_York",
                email_consent=True,
                created_at=now,
            )
            session.add(client)
            session.flush()
            rt.emitter.emit(session, client_snapshot(client, new=True))
        found[key] = client
    return found
