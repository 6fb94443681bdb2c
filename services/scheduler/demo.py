"""Demo data for the embedded default: a practice, its staff, two practitioners, a few clients
and the service types of an interpersonal-psychotherapy course."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from services.scheduler.events import (
    client_snapshot,
    practice_updated,
    practitioner_registered,
    service_type_defined,
)
from services.scheduler.tables import (
    Client,
    Practice,
    Practitioner,
    ServiceType,
    StaffUser,
    WorkingHours,
)
from shared.demo import demo_id as _id

DEMO_LOGIN = ("desk@harbourstreet.example", "rapport-demo")
DEMO_ADMIN = ("admin@harbourstreet.example", "rapport-admin")


SERVICE_TYPES = {
    "ipt-intake": ("IPT intake assessment", 60, "90791", True),
    "ipt-session": ("IPT session (50 min)", 50, "90834", True),
    "ipt-group": ("IPT group session", 90, "90853", True),
    "phone-check-in": ("Phone check-in", 15, None, False),
}

# Weekly hours in each practitioner's own zone: (who, weekdays, from minute, to minute).
DEMO_HOURS = (
    ("dr-rivera", range(0, 5), 9 * 60, 17 * 60),
    ("sam-okafor", range(0, 4), 10 * 60, 18 * 60),
    ("sam-okafor", (4,), 8 * 60, 12 * 60),
)


def seed(rt: Any) -> bool:
    """Load the demo practice once; False when it is already there."""
    now = rt.clock.now()
    with rt.db.transaction() as session:
        if session.scalars(select(Practice)).first() is not None:
            return False
        practice = Practice(
            id=_id("practice"),
            revision=1,
            name="Harbour Street Therapy",
            time_zone="America/New_York",
            currency="USD",
            cancellation_window=timedelta(hours=24),
            phone="+16175550100",
            address="12 Harbour Street, Boston, MA 02110",
        )
        session.add(practice)
        practitioners = [
            Practitioner(
                id=_id("dr-rivera"),
                display_name="Dr. Ana Rivera",
                email="ana.rivera@harbourstreet.example",
                time_zone="America/New_York",
                buffer_minutes=10,
                location="Harbour Street Therapy, 41 Harbour Street, Room 2",
            ),
            Practitioner(
                id=_id("sam-okafor"),
                display_name="Sam Okafor, LCSW",
                email="sam.okafor@harbourstreet.example",
                time_zone="America/Chicago",
                buffer_minutes=0,
                location="Video session",
                video_room_url="https://video.harbourstreet.example/r/okafor",
            ),
        ]
        service_types = [
            ServiceType(
                id=_id(key),
                name=name,
                duration=timedelta(minutes=minutes),
                cpt_code=cpt,
                billable=billable,
            )
            for key, (name, minutes, cpt, billable) in SERVICE_TYPES.items()
        ]
        clients = [
            Client(
                id=_id("client-jordan"),
                first_name="Jordan",
                last_name="Lee",
                email="jordan.lee@example.com",
                phone="+16175550123",
                time_zone="America/New_York",
                sms_consent=True,
                email_consent=True,
                created_at=now,
            ),
            Client(
                id=_id("client-priya"),
                first_name="Priya",
                last_name="Natarajan",
                email="priya.n@example.com",
                phone="+13125550188",
                time_zone="America/Chicago",
                sms_consent=True,
                email_consent=True,
                created_at=now,
            ),
            Client(
                id=_id("client-marek"),
                first_name="Marek",
                last_name="Nowak",
                email="marek.nowak@example.com",
                phone=None,
                preferred_channels="email",
                time_zone="Europe/Warsaw",
                email_consent=True,
                created_at=now,
            ),
        ]
        session.add_all(practitioners + service_types + clients)
        session.flush()
        session.add_all(
            WorkingHours(practitioner_id=_id(who), weekday=day, start_minute=start, end_minute=end)
            for who, days, start, end in DEMO_HOURS
            for day in days
        )
        session.add_all(
            [
                StaffUser(
                    id=_id("desk"),
                    email=DEMO_LOGIN[0],
                    name="Front Desk",
                    role="front_desk",
                    password_hash=generate_password_hash(DEMO_LOGIN[1]),
                ),
                StaffUser(
                    id=_id("admin"),
                    email=DEMO_ADMIN[0],
                    name="Practice Admin",
                    role="admin",
                    password_hash=generate_password_hash(DEMO_ADMIN[1]),
                ),
            ]
        )
        session.flush()
        rt.emitter.emit(session, practice_updated(practice))
        for practitioner in practitioners:
            rt.emitter.emit(session, practitioner_registered(practitioner))
        for service_type in service_types:
            rt.emitter.emit(session, service_type_defined(service_type))
        for client in clients:
            rt.emitter.emit(session, client_snapshot(client, new=True))
    rt.outbox_written()
    return True
