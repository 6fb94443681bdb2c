"""The event envelope every service publishes and consumes (see ARCHITECTURE.md, Event contract)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, field_validator


class UndecodableEvent(ValueError):
    """The bytes are not an envelope we can read; such a message goes straight to the DLQ."""


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID
    type: str
    version: int
    occurred_at: AwareDatetime
    source: str
    correlation_id: str
    causation_id: str | None = None
    data: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Envelope:
        try:
            return cls.model_validate_json(raw)
        except (ValidationError, ValueError) as exc:
            raise UndecodableEvent(str(exc)) from exc

    def as_dict(self) -> dict[str, Any]:
        return json.loads(self.to_json())


def new_envelope(
    type: str,
    version: int,
    data: dict[str, Any],
    *,
    source: str,
    occurred_at: datetime,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> Envelope:
    event_id = uuid.uuid4()
    return Envelope(
        id=event_id,
        type=type,
        version=version,
        occurred_at=occurred_at,
        source=source,
        correlation_id=correlation_id or str(event_id),
        causation_id=causation_id,
        data=data,
    )
