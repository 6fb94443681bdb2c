"""The .ics attached to confirmations and changes: one event per appointment (its UID), updated
by a higher SEQUENCE, withdrawn with METHOD:CANCEL, so calendar apps keep one entry. A course's
message carries one event per session it speaks of. The practice is the ORGANIZER and the
client the ATTENDEE (RFC 5546), and times are written in the session's own zone with a
VTIMEZONE every reader gets right (shared.ical)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText

from shared.ical import add_join_link, vtimezone

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
    location: str | None = None
    video_url: str | None = None  # a video session's join link


_END = b"END:VCALENDAR\r\n"


@functools.lru_cache(maxsize=8)
def _calendar_head(method: str) -> bytes:
    """BEGIN:VCALENDAR and the calendar's own properties: the same for every invite with this
    METHOD, so serialized once."""
    calendar = Calendar()
    calendar.add("prodid", "-//Rapport//Reminders//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    whole: bytes = calendar.to_ical()
    return whole.removesuffix(_END)


@functools.lru_cache(maxsize=256)
def _timezone_ical(zone: str, first: date, last: date) -> bytes:
    """The zone's VTIMEZONE from ``first`` to ``last``, serialized once: about 50 of an
    invite's 65 lines, and most of the time writing one took."""
    return bytes(vtimezone(zone, first, last).to_ical())


# icalendar folds a line before the character that would take it to 75 octets (RFC 5545's
# limit): a line of 74 or fewer is never folded.
_FOLD_AT = 75


def _event_ical(event: Event) -> bytes:
    """``event.to_ical()``, byte for byte: its content lines joined as ``Contentlines.to_ical``
    joins them. icalendar folds each line one character at a time (about a tenth of the time
    an invite takes), although most lines are far too short to fold: those are written as they
    are, and only a longer one goes through icalendar's folding."""
    lines = []
    for line in event.content_lines():
        if line:
            data = line.encode()
            lines.append(data if len(data) < _FOLD_AT else line.to_ical())
    return b"\r\n".join(lines) + b"\r\n"


def invite(
    *,
    kind: str,
    sessions: Sequence[Occurrence],
    practitioner: str,
    practice_name: str,
    organizer_email: str,
    now: datetime,
    attendee_email: str | None = None,
    attendee_name: str = "",
    time_zone: str | None = None,
    practice_address: str | None = None,
) -> bytes | None:
    """The .ics, byte for byte what ``Calendar.to_ical()`` writes for the calendar's properties,
    its events, then a VTIMEZONE for each zone the events name (shared.ical.add_timezones);
    only the events are serialized per message, the constant pieces once."""
    method = CALENDAR_KINDS.get(kind)
    if method is None or not sessions:
        return None
    parts = [_calendar_head(method)]
    zone = ZoneInfo(time_zone) if time_zone else None
    zones: set[str] = set()
    for occurrence in sessions:
        event = Event()
        event.add("uid", f"{occurrence.appointment_id}@rapport")
        event.add("sequence", occurrence.sequence)
        event.add("dtstamp", now)
        event.add(
            "dtstart", occurrence.starts_at.astimezone(zone) if zone else occurrence.starts_at
        )
        event.add("dtend", occurrence.ends_at.astimezone(zone) if zone else occurrence.ends_at)
        # Only who and where: no service name, which could say what the session is for.
        event.add("summary", f"Appointment with {practitioner}")
        # Where: the session's own place, its video link, else the practice's address.
        where = occurrence.location or occurrence.video_url or practice_address or practice_name
        event.add("location", where)
        if occurrence.video_url:
            add_join_link(event, occurrence.video_url)
        organizer = vCalAddress(f"mailto:{organizer_email}")
        organizer.params["CN"] = vText(practice_name)
        event.add("organizer", organizer)
        if attendee_email:
            attendee = vCalAddress(f"mailto:{attendee_email}")
            if attendee_name:
                attendee.params["CN"] = vText(attendee_name)
            attendee.params["ROLE"] = vText("REQ-PARTICIPANT")
            attendee.params["PARTSTAT"] = vText("NEEDS-ACTION")
            attendee.params["RSVP"] = vText("FALSE")  # replies go to the desk, not by email
            event.add("attendee", attendee)
        event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
        parts.append(_event_ical(event))
        # Times in UTC (a zone such as "UTC") are written with Z and name no zone.
        zones.update(
            str(event[name].params["TZID"])
            for name in ("DTSTART", "DTEND")
            if "TZID" in event[name].params
        )
    if zone is not None and zones:
        first = min(o.starts_at for o in sessions)
        last = max(o.ends_at for o in sessions)
        span = (date(first.year - 1, 1, 1), date(last.year + 2, 1, 1))
        parts.extend(_timezone_ical(name, *span) for name in sorted(zones))
    parts.append(_END)
    return b"".join(parts)
