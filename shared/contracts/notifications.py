"""Events the notifier publishes about reminders."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from shared.contracts import Contract


class RemindersPlanned(Contract):
    """The reminder plan of one appointment after an appointment event was applied."""

    TYPE = "reminder.planned"
    appointment_id: str
    appointment_sequence: int
    reminders: list[PlannedReminder]


class PlannedReminder(Contract):
    reminder_id: str
    channel: Literal["sms", "email"]
    kind: str
    due_at: AwareDatetime


RemindersPlanned.model_rebuild()


class ClientReplied(Contract):
    """A client answered a message by SMS. The notifier keeps the text; the event carries only
    what the reply means, so no message body travels beyond the service that received it."""

    TYPE = "client.replied"
    client_id: str
    appointment_id: str | None = None
    intent: Literal["confirm", "call_back", "other"]
    message_id: str
    received_at: AwareDatetime
