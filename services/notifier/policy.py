"""The reminder policy: the practice's default and per-service-type overrides, on the wire as
ISO 8601 durations, in the notifier's database, and as the plain rules planning works with."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_serializer, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifier import planning
from services.notifier.schemas import PolicyJson
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
    return stored(record.document) if record else None


def stored(document: dict) -> PolicyDocument:
    """A policy as saved in the database, read as it is meant today."""
    return PolicyDocument.model_validate(_as_now(document))


def policy_json(document: PolicyDocument) -> PolicyJson:
    """A policy on the wire: offsets as ISO 8601 hours (PT24H), times as HH:MM:SS."""
    quiet = document.quiet_hours
    return {
        "rules": [
            {
                "kind": rule.kind,
                "channel": rule.channel,
                "offset": None if rule.offset is None else iso_duration(rule.offset),
            }
            for rule in document.rules
        ],
        "notice_channels": list(document.notice_channels),
        "quiet_hours": {"start": quiet.start.isoformat(), "end": quiet.end.isoformat()}
        if quiet
        else None,
        "sms_caps": {
            "per_day": document.sms_caps.per_day,
            "per_week": document.sms_caps.per_week,
        },
        "sms_join_link": document.sms_join_link,
    }


def _as_now(stored: dict) -> dict:
    """A policy saved before quiet hours could be null switched them off with equal bounds."""
    quiet = stored.get("quiet_hours")
    if isinstance(quiet, dict) and quiet.get("start", 1) == quiet.get("end", 2):
        return {**stored, "quiet_hours": None}
    return stored


def policy_for(session: Session, service_type_id: str | None) -> Policy:
    """The policy that applies to ``service_type_id``. Every saved policy is read (and
    validated) once per transaction: a batch of 50 booked events made two lookups and two
    validations each before."""
    return Policy(applying(_documents_in(session).get, service_type_id))


_CACHE_KEY = "rapport_policies"


def _documents_in(session: Session) -> dict[str, PolicyDocument]:
    transaction = session.get_transaction()
    cached = session.info.get(_CACHE_KEY)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]
    documents = all_documents(session)
    if transaction is None:  # the read began one (autobegin); the cache belongs to it
        transaction = session.get_transaction()
    session.info[_CACHE_KEY] = (transaction, documents)
    return documents


def applying(
    find: Callable[[str], PolicyDocument | None], service_type_id: str | None
) -> PolicyDocument:
    """The service type's own policy if it has one, else the practice's, else the default."""
    if service_type_id and (own := find(service_type_id)):
        return own
    return find(PRACTICE) or DEFAULT


def all_documents(session: Session) -> dict[str, PolicyDocument]:
    """Every saved policy by scope (the practice's and the service types' own), in one query."""
    return {
        record.scope: stored(record.document) for record in session.scalars(select(PolicyRecord))
    }


def save(session: Session, scope: str, document: PolicyDocument, now: datetime, by: str) -> None:
    session.info.pop(_CACHE_KEY, None)
    record = session.get(PolicyRecord, scope)
    wire = dict(policy_json(document))
    if record is None:
        session.add(PolicyRecord(scope=scope, document=wire, updated_at=now, updated_by=by))
    else:
        record.document, record.updated_at, record.updated_by = wire, now, by
