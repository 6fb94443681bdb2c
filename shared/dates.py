"""Dates and times as a client reads them: their CLDR locale (Babel), with plain spaces so that
an SMS stays in GSM-7."""

from __future__ import annotations

from datetime import datetime

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates

DEFAULT_LOCALE = "en_US"


def babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse(locale)
    except (ValueError, TypeError, UnknownLocaleError):
        # A projection holds only what the scheduler validated; this is a last resort.
        return Locale.parse(DEFAULT_LOCALE)


def plain_spaces(text: str) -> str:
    # CLDR puts narrow no-break spaces before AM/PM; they would push an SMS out of GSM-7.
    return text.replace("\u202f", " ").replace("\u00a0", " ")


def format_date(local: datetime, locale: str = DEFAULT_LOCALE) -> str:
    """The full date in the locale: "Monday, November 2, 2026", "lunes, 2 de noviembre de
    2026", "poniedziałek, 2 listopada 2026"."""
    text = babel_dates.format_date(local, format="full", locale=babel_locale(locale))
    return plain_spaces(text)


def format_time(local: datetime, locale: str = DEFAULT_LOCALE, *, with_zone: bool = True) -> str:
    """The short time in the locale, plus the zone's abbreviation: "3:00 PM EST", "15:00 CET"."""
    text = babel_dates.format_time(
        local, format="short", tzinfo=local.tzinfo, locale=babel_locale(locale)
    )
    text = plain_spaces(text)
    return f"{text} {local.tzname()}" if with_zone else text
