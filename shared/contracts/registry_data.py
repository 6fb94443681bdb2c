"""Reference data the scheduler owns and others project: the practice, clients, practitioners,
service types.

Each event carries the whole current snapshot with a ``revision`` so that a consumer can
upsert from any of them and ignore one older than what it holds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from shared.contracts import Contract

Channel = Literal["sms", "email"]


class PracticeUpdated(Contract):
    """How the practice presents itself to clients: the name, phone (E.164) and address its
    messages give, and its own time zone and currency."""

    TYPE = "practice.updated"
    practice_id: str
    revision: int
    name: str
    time_zone: str
    currency: str
    phone: str | None = None
    address: str | None = None


class ClientSnapshot(Contract):
    client_id: str
    revision: int
    first_name: str
    last_name: str
    email: str | None = None
    phone: str | None = None
    time_zone: str
    locale: str = "en_US"  # CLDR locale (ll_CC) for dates and times in messages
    preferred_channels: list[Channel] = ["sms", "email"]
    sms_consent: bool = False
    email_consent: bool = False
    active: bool = True


class ClientRegistered(ClientSnapshot):
    TYPE = "client.registered"


class ClientUpdated(ClientSnapshot):
    TYPE = "client.updated"


class PractitionerSnapshot(Contract):
    practitioner_id: str
    revision: int
    display_name: str
    time_zone: str
    active: bool = True


class PractitionerRegistered(PractitionerSnapshot):
    TYPE = "practitioner.registered"


class PractitionerUpdated(PractitionerSnapshot):
    TYPE = "practitioner.updated"


class ServiceTypeSnapshot(Contract):
    service_type_id: str
    revision: int
    name: str
    duration: timedelta
    cpt_code: str | None = None
    billable: bool = True
    active: bool = True


class ServiceTypeDefined(ServiceTypeSnapshot):
    TYPE = "service_type.defined"


class ServiceTypeUpdated(ServiceTypeSnapshot):
    TYPE = "service_type.updated"
