"""Rapport's own figures against a running topology: bookings accepted, bookings whose every
effect exists, latency from booking to invoice and to confirmation sent, SMS reminders due at
one instant, the practitioner feed, CPU per booking and memory of each worker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

import psycopg
import requests
from sqlalchemy import Table, create_engine, insert, text

from bench.load import Outcome, closed_loop, open_loop
from bench.topology import Topology, plain_dsn
from services.scheduler.demo import DEMO_ADMIN, DEMO_LOGIN
from services.scheduler.tables import Appointment, Practitioner
from shared.clock import SystemClock
from shared.demo import demo_id

# Two demo clients who take SMS and email; each booking an hour after the one before, so
# that no two ever overlap, from three days ahead (reminders planned, not yet due).
CLIENTS = (demo_id("client-jordan"), demo_id("client-priya"))
PRACTITIONERS = (demo_id("dr-rivera"), demo_id("sam-okafor"))
SESSION = demo_id("ipt-session")
CLOCK = SystemClock()


@dataclass
class Bookings:
    """The appointment ids one load booked, with when each booking began (epoch seconds)."""

    outcome: Outcome
    began: dict[str, float] = field(default_factory=dict)


class Rapport:
    def __init__(self, top: Topology) -> None:
        self.top = top
        self.slot = 0
        self.token = self._sign_in(DEMO_LOGIN)
        self.first = CLOCK.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=3)

    def _sign_in(self, login: tuple[str, str]) -> str:
        answer = requests.post(
            f"{self.top.web['scheduler']}/api/v1/auth/token",
            json={"email": login[0], "password": login[1]},
            timeout=10,
        )
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def quiet_hours_off(self) -> None:
        """The default reminder rules, but no quiet hours: confirmations go out whatever the
        hour of the run."""
        headers = {"Authorization": f"Bearer {self._sign_in(DEMO_ADMIN)}"}
        url = f"{self.top.web['notifier']}/api/v1/reminder-policy"
        document = requests.get(url, headers=headers, timeout=10).json()["practice"]
        document["quiet_hours"] = None
        requests.put(url, headers=headers, json=document, timeout=10).raise_for_status()

    # -- bookings --------------------------------------------------------------------------------

    def _booker(self, count: int) -> tuple[Bookings, object]:
        first_slot, self.slot = self.slot, self.slot + count
        result = Bookings(Outcome(0, 0, 0, 0))
        url = f"{self.top.web['scheduler']}/api/v1/appointments"
        headers = {"Authorization": f"Bearer {self.token}"}

        def book(session: requests.Session, index: int) -> bool:
            slot = first_slot + index
            body = {
                "client_id": CLIENTS[slot % len(CLIENTS)],
                "practitioner_id": PRACTITIONERS[slot % len(PRACTITIONERS)],
                "service_type_id": SESSION,
                "starts_at": (self.first + timedelta(hours=slot)).isoformat(),
            }
            began = time.time()
            answer = session.post(url, json=body, headers=headers, timeout=30)
            if answer.status_code != 201:
                return False
            result.began[answer.json()["id"]] = began
            return True

        return result, book

    def book_closed(self, count: int, clients: int) -> Bookings:
        result, book = self._booker(count)
        result.outcome = closed_loop(book, count, clients)  # type: ignore[arg-type]
        return result

    def book_open(self, count: int, rate: float) -> Bookings:
        result, book = self._booker(count)
        result.outcome = open_loop(book, count, rate)  # type: ignore[arg-type]
        # Latency from the scheduled instant, not from when a late thread got round to it.
        return result

    # -- effects ---------------------------------------------------------------------------------

    def effects(self, ids: Sequence[str]) -> dict[str, dict[str, datetime]]:
        """For each appointment, when each of its effects came to exist: its charge (a line on
        an invoice, issued or upcoming on a draft, whichever billing's mode gives), its reminder
        plan, its confirmations planned, and its SMS and email confirmations sent."""
        found: dict[str, dict[str, datetime]] = {i: {} for i in ids}
        with psycopg.connect(plain_dsn(self.top.databases["billing"])) as conn:
            for appointment, at in conn.execute(
                "SELECT appointment_id, min(created_at) FROM invoice_line"
                " WHERE appointment_id = ANY(%s) AND status <> 'void' GROUP BY 1",
                (list(ids),),
            ):
                found[appointment]["invoice"] = at
        with psycopg.connect(plain_dsn(self.top.databases["notifier"])) as conn:
            for appointment, kind, channel, created, sent in conn.execute(
                "SELECT appointment_id, kind, channel, created_at, sent_at FROM reminder"
                " WHERE appointment_id = ANY(%s)",
                (list(ids),),
            ):
                if kind == "reminder":
                    found[appointment]["plan"] = created
                elif kind == "confirmation":
                    # When the notifier planned them: the stage between booking and sending.
                    planned = found[appointment].get("confirmation_planned", created)
                    found[appointment]["confirmation_planned"] = min(planned, created)
                    if sent is not None:
                        found[appointment][f"confirmation_{channel}"] = sent
        return found

    def wait_for_effects(
        self, ids: Sequence[str], timeout: float
    ) -> dict[str, dict[str, datetime]]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.effects(ids)
            if all(complete(e) for e in found.values()) or time.monotonic() > deadline:
                return found
            time.sleep(0.5)

    # -- SMS reminders due at one instant --------------------------------------------------------

    def seed_due_sms(self, count: int, lead: float = 3.0) -> datetime:
        """``count`` SMS reminders for one future session, all due ``lead`` s after seeding."""
        appointment = str(uuid.uuid4())
        now = CLOCK.now()
        due = now + timedelta(seconds=lead)
        with psycopg.connect(plain_dsn(self.top.databases["notifier"])) as conn:
            conn.execute(
                "INSERT INTO appointment_view (appointment_id, sequence, status, client_id,"
                " practitioner_id, starts_at, ends_at, service_type_id, time_zone)"
                " VALUES (%s, 1, 'booked', %s, %s, %s, %s, %s, 'America/New_York')",
                (
                    appointment,
                    CLIENTS[0],
                    PRACTITIONERS[0],
                    now + timedelta(days=30),
                    now + timedelta(days=30, minutes=50),
                    SESSION,
                ),
            )
            with conn.cursor().copy(
                "COPY reminder (id, appointment_id, client_id, appointment_sequence, kind,"
                " channel, due_at, status, created_at, attempts) FROM STDIN"
            ) as copy:
                for _ in range(count):
                    copy.write_row(
                        (
                            str(uuid.uuid4()),
                            appointment,
                            CLIENTS[0],
                            1,
                            "reminder",
                            "sms",
                            due,
                            "planned",
                            now,
                            0,
                        )
                    )
        self.sms_appointment = appointment
        return due

    def sms_sent(self) -> list[datetime]:
        with psycopg.connect(plain_dsn(self.top.databases["notifier"])) as conn:
            return [
                row[0]
                for row in conn.execute(
                    "SELECT sent_at FROM reminder WHERE appointment_id = %s AND status = 'sent'",
                    (self.sms_appointment,),
                )
            ]

    # -- the practitioner feed -------------------------------------------------------------------

    def feed_of(self, sessions: int) -> str:
        """A practitioner of the bench's own with ``sessions`` sessions, written straight into
        the scheduler's database (the feed reads only that); returns the feed URL."""
        practitioner, token = str(uuid.uuid4()), uuid.uuid4().hex + uuid.uuid4().hex
        start = CLOCK.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=200)
        now = CLOCK.now()
        engine = create_engine(self.top.databases["scheduler"])
        with engine.begin() as conn:
            conn.execute(
                insert(cast(Table, Practitioner.__table__)),
                {
                    "id": practitioner,
                    "display_name": "Bench Feed",
                    "time_zone": "America/New_York",
                    "feed_token": token,
                },
            )
            conn.execute(
                insert(cast(Table, Appointment.__table__)),
                [
                    {
                        "id": str(uuid.uuid4()),
                        "status": "booked",
                        "client_id": demo_id("client-marek"),
                        "practitioner_id": practitioner,
                        "service_type_id": SESSION,
                        "starts_at": start + timedelta(hours=i),
                        "ends_at": start + timedelta(hours=i, minutes=50),
                        "time_zone": "America/New_York",
                        "location": "Room 2",
                        "booked_by": demo_id("desk"),
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(sessions)
                ],
            )
        # What autovacuum does within a minute of a bulk insert: without statistics the
        # planner takes the new table for an empty one, and the feed's one query is measured
        # on a plan no running practice would have.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE appointment"))
        engine.dispose()
        return f"{self.top.web['scheduler']}/feeds/practitioner/{token}.ics"


def complete(effects: dict[str, datetime]) -> bool:
    return {"invoice", "plan", "confirmation_sms", "confirmation_email"} <= effects.keys()


def done_at(effects: dict[str, datetime]) -> datetime | None:
    return max(effects.values()) if complete(effects) else None


def epoch(at: datetime) -> float:
    return at.astimezone(UTC).timestamp()
