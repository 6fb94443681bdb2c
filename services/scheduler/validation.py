"""Validation of what the front desk types about a client, at the edge."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

import phonenumbers
from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    field_validator,
    model_validator,
)

from services.scheduler.domain import is_time_zone

DEFAULT_REGION = "US"
# The years a date or instant at the edge may fall in: far enough for any practice, and inside
# what Python and the database can convert between zones without overflowing.
EARLIEST, LATEST = date(1900, 1, 1), date(2199, 12, 31)


def _day_in_range(value: date) -> date:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"must be between {EARLIEST.year} and {LATEST.year}")
    return value


def _instant_in_range(value: datetime) -> datetime:
    if not EARLIEST <= value.date() <= LATEST:
        raise ValueError(f"must be between {EARLIEST.year} and {LATEST.year}")
    return value.astimezone(UTC).astimezone(value.tzinfo)  # in range, so converts safely


Day = Annotated[date, AfterValidator(_day_in_range)]
Instant = Annotated[AwareDatetime, AfterValidator(_instant_in_range)]


def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """E.164, or ValueError with a message the desk can act on."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number (include the country code if not US)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def join_link(raw: str | None) -> str | None:
    """A video call's join link: an https URL with a host, or ValueError; blank is none."""
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError("is not an https link such as https://meet.example.com/room")
    return value


# A request field holding a video call's join link (absent, null or blank: none).
JoinLink = Annotated[str | None, Field(max_length=500), AfterValidator(join_link)]


def normalise_email(raw: str) -> str:
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc


def normalise_locale(value: str) -> str:
    """A CLDR locale such as en_US, es-US or pl_PL, returned as ``ll_CC``."""
    problem = ValueError("is not a language and country locale such as en_US, es_US or pl_PL")
    try:
        locale = Locale.parse(value.strip().replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError) as exc:
        raise problem from exc
    if not locale.territory:
        raise problem
    return f"{locale.language}_{locale.territory}"


class ClientFields(BaseModel):
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    time_zone: str
    locale: str = Field(default="en_US", max_length=20)
    preferred_channels: list[Literal["sms", "email"]] = ["sms", "email"]
    sms_consent: bool = False
    email_consent: bool = False
    # The practitioner the client sees; a practitioner who registers a client gets it.
    assigned_practitioner_id: str | None = Field(default=None, max_length=36)

    @field_validator("first_name", "last_name")
    @classmethod
    def _strip(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalise_phone(value) if value and value.strip() else None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return normalise_email(value) if value and value.strip() else None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not is_time_zone(value):
            raise ValueError("is not an IANA time zone such as America/New_York")
        return value

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        return normalise_locale(value)

    @model_validator(mode="after")
    def _consent_needs_contact(self) -> ClientFields:
        if self.sms_consent and not self.phone:
            raise ValueError("SMS consent needs a mobile number")
        if self.email_consent and not self.email:
            raise ValueError("email consent needs an email address")
        return self

    def columns(self) -> dict[str, object]:
        data = self.model_dump()
        data["preferred_channels"] = ",".join(dict.fromkeys(self.preferred_channels))
        return data
