"""The reminder policy: the practice's default and per-service-type overrides, on the wire as
ISO 8601 durations, in the notifier's database, and as the plain rules planning works with."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_serializer, field_validator, model_validator
from sqlalchemy.orm import Session

from services.notifier import planning
from services.notifier.tables import PolicyRecord

PRACTICE = "practice"
Channel = Literal["sms", "email"]


class RuleDocument(BaseModel):
    kind: Literal["confirmation", "reminder"]
    channel: Channel
    offset: timedelta | None = None  # before the session; None for a confirmation at booking

    @model_validator(mode="after")
    def _offset_fits_kind(self) -> RuleDocument:
        if self.kind == "reminder" and (self.offset is None or self.offset <= timedelta(0)):
            raise ValueError("a reminder needs a positive offset such as PT24H")
        if self.kind == "confirmation" and self.offset is not None:
            raise ValueError("a confirmation goes out at booking; leave its offset out")
        return self

    @field_serializer("offset")
    def _iso_hours(self, offset: timedelta | None) -> str | None:
        return None if offset is None else iso_duration(offset)


def iso_duration(value: timedelta) -> str:
    """PT48H rather than pydantic's P2D: what a practice writes and reads."""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        f"{hours}H" if hours else "",
        f"{minutes}M" if minutes else "",
        f"{seconds}S" if seconds else "",
    ]
    return "PT" + ("".join(parts) or "0S")


class QuietHoursDocument(BaseModel):
    start: time = time(21, 0)
    end: time = time(8, 0)

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursDocument:
        if self.start == self.end:
            raise ValueError(
                "a start equal to its end is ambiguous; to switch quiet hours off, send "
                '"quiet_hours": null'
            )
        return self


class SmsCapsDocument(BaseModel):
    per_day: int = Field(1, ge=0, le=10)
    per_week: int = Field(3, ge=0, le=50)


class PolicyDocument(BaseModel):
    rules: list[RuleDocument] = Field(max_length=20)
    notice_channels: list[Channel] = ["email", "sms"]  # preference order; one notice is sent
    quiet_hours: QuietHoursDocument | None = QuietHoursDocument()  # null: none at all
    sms_caps: SmsCapsDocument = Field(default_factory=lambda: SmsCapsDocument.model_validate({}))
    # A video session's join link in SMS too (email and the .ics always carry it); it makes
    # the message longer than one segment.
    sms_join_link: bool = False

    @field_validator("notice_channels")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("list each channel once")
        return value


DEFAULT = PolicyDocument(
    rules=[
        RuleDocument(kind="confirmation", channel="email"),
        RuleDocument(kind="confirmation", channel="sms"),
        RuleDocument(kind="reminder", channel="email", offset=timedelta(hours=48)),
        RuleDocument(kind="reminder", channel="sms", offset=timedelta(hours=24)),
    ]
)


class Policy:
    """A policy as planning uses it."""

    def __init__(self, document: PolicyDocument) -> None:
        self.document = document
        self.rules = tuple(planning.Rule(r.kind, r.channel, r.offset) for r in document.rules)
        quiet = document.quiet_hours
        self.quiet = planning.QuietHours(quiet.start, quiet.end) if quiet else None
        self.caps = planning.SmsCaps(document.sms_caps.per_day, document.sms_caps.per_week)
        self.notice_channels = tuple(document.notice_channels)

    @property
    def reminder_rules(self) -> tuple[planning.Rule, ...]:
        return tuple(r for r in self.rules if r.kind != "confirmation")


def document_for(session: Session, scope: str) -> PolicyDocument | None:
    record = session.get(PolicyRecord, scope)
    return PolicyDocument.model_validate(_as_now(record.document)) if record else None


def _as_now(stored: dict) -> dict:
    """A policy saved before quiet hours could be null switched them off with equal bounds."""
    quiet = stored.get("quiet_hours")
    if isinstance(quiet, dict) and quiet.get("start", 1) == quiet.get("end", 2):
        return {**stored, "quiet_hours": None}
    return stored


def policy_for(session: Session, service_type_id: str | None) -> Policy:
    """The service type's own policy if it has one, else the practice's, else the default."""
    if service_type_id and (own := document_for(session, service_type_id)):
        return Policy(own)
    return Policy(document_for(session, PRACTICE) or DEFAULT)


def save(session: Session, scope: str, document: PolicyDocument, now: datetime, by: str) -> None:
    record = session.get(PolicyRecord, scope)
    wire = document.model_dump(mode="json")
    if record is None:
        session.add(PolicyRecord(scope=scope, document=wire, updated_at=now, updated_by=by))
    else:
        record.document, record.updated_at, record.updated_by = wire, now, by
