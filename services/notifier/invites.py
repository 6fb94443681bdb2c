"""The .ics attached to confirmations and changes: one event per appointment (its UID), updated
by a higher SEQUENCE, withdrawn with METHOD:CANCEL, so calendar apps keep one entry. A course's
message carries one event per session it speaks of."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from icalendar import Calendar, Event

CALENDAR_KINDS = {
    "confirmation": "REQUEST",
    "reschedule_notice": "REQUEST",
    "cancellation_notice": "CANCEL",
    "course_confirmation": "REQUEST",
    "course_reschedule_notice": "REQUEST",
    "course_cancellation_notice": "CANCEL",
}


@dataclass(frozen=True)
class Occurrence:
    appointment_id: str
    sequence: int
    starts_at: datetime
    ends_at: datetime


def invite(
    *,
    kind: str,
    sessions: Sequence[Occurrence],
    practitioner: str,
    practice_name: str,
    organizer_email: str,
    now: datetime,
) -> bytes | None:
    method = CALENDAR_KINDS.get(kind)
    if method is None or not sessions:
        return None
    calendar = Calendar()
    calendar.add("prodid", "-//Rapport//Reminders//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    for occurrence in sessions:
        event = Event()
        event.add("uid", f"{occurrence.appointment_id}@rapport")
        event.add("sequence", occurrence.sequence)
        event.add("dtstamp", now)
        event.add("dtstart", occurrence.starts_at)
        event.add("dtend", occurrence.ends_at)
        # Only who and where: no service name, which could say what the session is for.
        event.add("summary", f"Appointment with {practitioner}")
        event.add("location", practice_name)
        event.add("organizer", f"mailto:{organizer_email}")
        event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
        calendar.add_component(event)
    return calendar.to_ical()
