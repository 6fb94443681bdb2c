"""Events about the waiting list: a freed slot offered to a waiting client (scheduler), how the
offer ended (scheduler), and a client's SMS accepting it (notifier)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from shared.contracts import Contract


class OfferMade(Contract):
    """A freed slot offered to one waiting client until ``expires_at``; ``accept_url`` is the
    offer's single-purpose link. Only what the message may say: no service type, no notes."""

    TYPE = "waitlist.offer_made"
    offer_id: str
    client_id: str
    practitioner_id: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    time_zone: str  # where the session takes place (the practitioner's zone)
    expires_at: AwareDatetime
    accept_url: str


class OfferClosed(Contract):
    """An offer is no longer open: accepted (booked as ``appointment_id``), taken by someone
    else, expired, or withdrawn (the desk booked the time meanwhile, or the entry was removed).
    ``answered_by`` says the client tried to accept (sms or link): a "taken" they answered is
    one they are told about."""

    TYPE = "waitlist.offer_closed"
    offer_id: str
    client_id: str
    outcome: Literal["accepted", "taken", "expired", "withdrawn"]
    answered_by: Literal["sms", "link"] | None = None
    appointment_id: str | None = None
    closed_at: AwareDatetime


class OfferAccepted(Contract):
    """The client replied Y to the SMS that offered them a slot (the notifier keeps the text)."""

    TYPE = "waitlist.offer_accepted"
    offer_id: str
    client_id: str
    message_id: str
    received_at: AwareDatetime
