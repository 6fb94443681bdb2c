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
