"""iCalendar pieces feeds and invites share: VTIMEZONE components that every calendar reader
gets right, and a video session's join link.

icalendar writes a zone's transitions as one STANDARD/DAYLIGHT pair with a comma-separated
RDATE list; vobject (and some calendar apps) read only part of such a list and put every
session after the first DST change an hour off. Here each transition is its own component
with its own DTSTART, which icalendar, vobject and dateutil's tzical all read as zoneinfo does.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

_COPIED = ("TZNAME", "TZOFFSETFROM", "TZOFFSETTO")


@functools.lru_cache(maxsize=256)
def vtimezone(zone: str, first: date, last: date) -> icalendar.Timezone:
    """The zone's VTIMEZONE from ``first`` to ``last``, one component per transition.

    Built once per (zone, span) and shared by every calendar that adds it (0.44 ms each time
    for a three-year span of New York, in front of every email confirmation): calendars only
    add and serialize it, and nothing may change it."""
    generated = icalendar.Timezone.from_tzinfo(
        ZoneInfo(zone), tzid=zone, first_date=first, last_date=last
    )
    out = icalendar.Timezone()
    out.add("tzid", zone)
    transitions = []
    for part in generated.subcomponents:
        for start in [part.decoded("DTSTART"), *_rdates(part)]:
            transitions.append((start, part))
    for start, part in sorted(transitions, key=lambda t: t[0]):
        component = type(part)()
        component.add("dtstart", start)
        for name in _COPIED:
            if name in part:
                component[name] = part[name]
        out.add_component(component)
    return out


def _rdates(part: Any) -> list[datetime]:
    found = part.get("RDATE")
    if found is None:
        return []
    lists = found if isinstance(found, list) else [found]
    return [value.dt for rdates in lists for value in rdates.dts]


def add_timezones(calendar: icalendar.Calendar, first: date, last: date) -> None:
    """A VTIMEZONE for every TZID the calendar's events use, covering ``first`` to ``last``."""
    zones = sorted(
        {
            str(prop.params["TZID"])
            for event in calendar.walk("VEVENT")
            for name in ("DTSTART", "DTEND")
            if (prop := event.get(name)) is not None and "TZID" in prop.params
        }
    )
    for zone in zones:
        calendar.add_component(vtimezone(zone, first, last))


def add_join_link(event: icalendar.Event, url: str) -> None:
    """URL for readers that know only RFC 5545, CONFERENCE (RFC 7986) for those that offer a
    "Join" button."""
    event.add("url", url)
    conference = icalendar.vUri(url)
    conference.params.update(
        {"VALUE": "URI", "FEATURE": ["AUDIO", "VIDEO"], "LABEL": "Join the video call"}
    )
    event.add("conference", conference)
