"""The .ics attached to confirmations and changes: one event per appointment (its UID), updated
by a higher SEQUENCE, withdrawn with METHOD:CANCEL, so calendar apps keep one entry."""

from __future__ import annotations

from datetime import datetime

from icalendar import Calendar, Event

CALENDAR_KINDS = {
    "confirmation": "REQUEST",
    "reschedule_notice": "REQUEST",
    "cancellation_notice": "CANCEL",
}


def invite(
    *,
    kind: str,
    appointment_id: str,
    sequence: int,
    starts_at: datetime,
    ends_at: datetime,
    practitioner: str,
    practice_name: str,
    organizer_email: str,
    now: datetime,
) -> bytes | None:
    method = CALENDAR_KINDS.get(kind)
    if method is None:
        return None
    calendar = Calendar()
    calendar.add("prodid", "-//Rapport//Reminders//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", f"{appointment_id}@rapport")
    event.add("sequence", sequence)
    event.add("dtstamp", now)
    event.add("dtstart", starts_at)
    event.add("dtend", ends_at)
    # Only who and where: no service name, which could say what the session is for.
    event.add("summary", f"Appointment with {practitioner}")
    event.add("location", practice_name)
    event.add("organizer", f"mailto:{organizer_email}")
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    calendar.add_component(event)
    return calendar.to_ical()
