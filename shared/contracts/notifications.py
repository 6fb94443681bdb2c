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
    # Added within v1: reminders the policy asks for that were not planned because they would
    # already have been due (status "not_planned").
    not_planned: list[PlannedReminder] = []


class PlannedReminder(Contract):
    reminder_id: str
    channel: Literal["sms", "email"]
    kind: str
    due_at: AwareDatetime
    status: str = "planned"  # planned, sending or sent (added within v1)


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


class ReminderSent(Contract):
    """A reminder left us: handed to Twilio or accepted by the SMTP server."""

    TYPE = "reminder.sent"
    reminder_id: str
    appointment_id: str
    client_id: str
    channel: Literal["sms", "email"]
    kind: str
    message_id: str
    sent_at: AwareDatetime


class ReminderFailed(Contract):
    """A reminder could not be sent on this channel (after retries, or permanently)."""

    TYPE = "reminder.failed"
    reminder_id: str
    appointment_id: str
    client_id: str
    channel: Literal["sms", "email"]
    kind: str
    reason: str
    permanent: bool
    failed_at: AwareDatetime


class MessageDelivered(Contract):
    """The carrier or mail server reported the message delivered."""

    TYPE = "message.delivered"
    message_id: str
    reminder_id: str | None = None
    appointment_id: str | None = None
    client_id: str
    channel: Literal["sms", "email"]
    delivered_at: AwareDatetime
    kind: str | None = None  # added within v1: confirmation, reminder, ... of the message


class MessageFailed(Contract):
    """The carrier reported the message failed or undelivered."""

    TYPE = "message.failed"
    message_id: str
    reminder_id: str | None = None
    appointment_id: str | None = None
    client_id: str
    channel: Literal["sms", "email"]
    status: Literal["failed", "undelivered"]
    error_code: str | None = None
    failed_at: AwareDatetime
    kind: str | None = None  # added within v1: confirmation, reminder, ... of the message


class ClientOptedOut(Contract):
    """The client replied STOP (or START to opt back in) on a channel."""

    TYPE = "client.opted_out"
    client_id: str
    channel: Literal["sms", "email"]
    opted_out: bool
    at: AwareDatetime
