"""Dates and times as a client reads them: their CLDR locale (Babel), with plain spaces so that
an SMS stays in GSM-7."""

from __future__ import annotations

import functools
from datetime import date, datetime, tzinfo

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates

DEFAULT_LOCALE = "en_US"


@functools.lru_cache(maxsize=64)
def babel_locale(locale: str) -> Locale:
    """The CLDR locale, parsed once per identifier (each Babel call given a string parses it
    again)."""
    try:
        return Locale.parse(locale)
    except (ValueError, TypeError, UnknownLocaleError):
        # A projection holds only what the scheduler validated; this is a last resort.
        return Locale.parse(DEFAULT_LOCALE)


def plain_spaces(text: str) -> str:
    # CLDR puts narrow no-break spaces before AM/PM; they would push an SMS out of GSM-7.
    return text.replace("\u202f", " ").replace("\u00a0", " ")


# A date or time as written is kept, per everything Babel reads to write it: the same days and
# clock times recur in the same few locales and zones through a busy hour (a confirmation's SMS
# and email say the same), and Babel takes tens of microseconds to write one.
_KEPT = 4096


def format_date(local: datetime, locale: str = DEFAULT_LOCALE) -> str:
    """The full date in the locale: "Monday, November 2, 2026", "lunes, 2 de noviembre de
    2026", "poniedziałek, 2 listopada 2026"."""
    return _full_date(local.date() if isinstance(local, datetime) else local, locale)


@functools.lru_cache(maxsize=_KEPT)
def _full_date(day: date, locale: str) -> str:
    # Babel writes a datetime's date(): the day alone decides the text.
    text = babel_dates.format_date(day, format="full", locale=babel_locale(locale))
    return plain_spaces(text)


def format_time(local: datetime, locale: str = DEFAULT_LOCALE, *, with_zone: bool = True) -> str:
    """The short time in the locale, plus the zone's abbreviation: "3:00 PM EST", "15:00 CET"."""
    text = _short_time(*_wall_clock(local), locale)
    return f"{text} {local.tzname()}" if with_zone else text


@functools.lru_cache(maxsize=_KEPT)
def _short_time(wall: datetime, fold: int, zone: tzinfo | None, locale: str) -> str:
    local = wall.replace(tzinfo=zone, fold=fold)
    text = babel_dates.format_time(
        local, format="short", tzinfo=local.tzinfo, locale=babel_locale(locale)
    )
    return plain_spaces(text)


def format_skeleton(skeleton: str, local: datetime, locale: str = DEFAULT_LOCALE) -> str:
    """The CLDR skeleton's pattern for the locale ("MMMEd": "Wed, Apr 15", "mié, 15 de abr")."""
    return _skeleton(skeleton, *_wall_clock(local), locale)


@functools.lru_cache(maxsize=_KEPT)
def _skeleton(skeleton: str, wall: datetime, fold: int, zone: tzinfo | None, locale: str) -> str:
    local = wall.replace(tzinfo=zone, fold=fold)
    return plain_spaces(babel_dates.format_skeleton(skeleton, local, locale=babel_locale(locale)))


def _wall_clock(local: datetime) -> tuple[datetime, int, tzinfo | None]:
    """What a datetime is to Babel, as a key: its wall clock, fold and zone. Not the datetime
    itself, which equals another across zones at the same instant, and in its own zone at the
    same wall clock whatever the fold (1:30 EDT and 1:30 EST on a fall-back night)."""
    return local.replace(tzinfo=None), local.fold, local.tzinfo
