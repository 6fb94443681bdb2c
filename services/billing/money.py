"""Amounts as people read them: integer minor units shown in the practice's currency and locale
by Babel (CLDR), which knows each currency's digits (JPY none, KWD three) and each locale's
symbols, separators and patterns."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, get_currency_precision

DEFAULT_LOCALE = "en_US"


def minor_digits(currency: str) -> int:
    return int(get_currency_precision(currency))


def to_major(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-minor_digits(currency))


def format_money(minor: int, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    return str(format_currency(to_major(minor, currency), currency, locale=locale))


def format_day(value: date | datetime | str, zone: str, locale: str = DEFAULT_LOCALE) -> str:
    """A date as the practice reads it; an instant is first put in the practice's zone."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.astimezone(ZoneInfo(zone)).date()
    return str(format_date(value, format="medium", locale=locale))


def known_locale(tag: str) -> str:
    """The tag in Babel's form (``pl_PL``); ValueError when CLDR does not know it."""
    try:
        return str(Locale.parse(tag.replace("-", "_")))
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(f"unknown locale {tag!r}; use a CLDR locale such as en_US") from exc
