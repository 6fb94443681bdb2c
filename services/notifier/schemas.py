"""What the notifier's API answers with: one type per JSON body, which the serializers are
declared to return (mypy checks each one) and the OpenAPI document publishes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from typing_extensions import TypedDict

# An aware instant as ISO 8601.
Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class ReminderJson(TypedDict):
    """A planned or sent reminder or confirmation."""

    id: str
    appointment_id: str
    client_id: str
    kind: str
    channel: str
    due_at: Instant
    status: str
    appointment_sequence: int
    attempts: int
    sent_at: Instant | None
    note: str | None


class RuleJson(TypedDict):
    """When a confirmation (offset null: at booking) or a reminder (ISO 8601 duration before
    the session, e.g. PT24H) goes out, and by which channel."""

    kind: str
    channel: str
    offset: str | None


class QuietHoursJson(TypedDict):
    """Hours (the client's clock, HH:MM:SS) in which no SMS is sent."""

    start: str
    end: str


class SmsCapsJson(TypedDict):
    """At most this many reminder SMS per client."""

    per_day: int
    per_week: int


class PolicyJson(TypedDict):
    """A reminder policy."""

    rules: list[RuleJson]
    notice_channels: list[str]
    quiet_hours: QuietHoursJson | None
    sms_caps: SmsCapsJson
    sms_join_link: bool


class Policies(TypedDict):
    """The practice's policy and the service types that have their own."""

    practice: PolicyJson
    service_types: dict[str, PolicyJson]


class PolicySaved(TypedDict):
    """A policy as saved, and whose it is (``practice`` or a service type's id)."""

    scope: str
    policy: PolicyJson


class MessageJson(TypedDict):
    """A message handed to a channel, and what became of it."""

    id: str
    reminder_id: str | None
    appointment_id: str | None
    client_id: str
    channel: str
    kind: str
    provider: str
    status: str
    error_code: str | None
    created_at: Instant
    updated_at: Instant


# "from" is a keyword, so this one is declared by call.
InboxItemJson = TypedDict(
    "InboxItemJson",
    {
        "id": str,
        "from": str,
        "client_id": str | None,
        "appointment_id": str | None,
        "intent": str,
        "body": str,
        "received_at": Instant,
        "handled_at": Instant | None,
        "handled_by": str | None,
    },
)
InboxItemJson.__doc__ = "A client's SMS or self-service request that needs the desk."


class SandboxMessageJson(TypedDict):
    """A message the sandbox channel recorded instead of sending."""

    id: str
    channel: str
    to: str
    subject: str | None
    body: str
    calendar_attached: bool
    calendar: str | None
    created_at: Instant


class SandboxMessages(TypedDict):
    """The sandbox's latest messages (up to 200), newest first."""

    items: list[SandboxMessageJson]


class SandboxReplyJson(TypedDict):
    """A played SMS reply as the notifier understood it."""

    id: str
    intent: str
    client_id: str | None


class SampleJson(TypedDict):
    """A template rendered with ordinary values; for SMS, its encoding, length and segments."""

    text: str
    encoding: str | None
    characters: int | None
    segments: int | None


class TemplateJson(TypedDict):
    """A message template: the practice's edit or the default."""

    kind: str
    channel: str
    edited: bool
    subject: str | None
    text: str
    html: str | None
    sample: SampleJson | None


class Templates(TypedDict):
    """Every template, and the variables a template may use."""

    items: list[TemplateJson]
    variables: list[str]
    course_variables: list[str]


class CheckInStatus(TypedDict):
    """A client's check-in enrolment as the notifier follows it."""

    client_id: str
    active: bool
    paused: bool
    next_due_at: Instant | None


class CheckInAnswerJson(TypedDict):
    """A score (0 worst to 10 best) a client gave by SMS."""

    check_in_id: str
    score: int
    text: str
    received_at: Instant
    urgent: bool


class CheckInAnswers(TypedDict):
    """A client's scores, oldest first, and the starts of their sessions."""

    items: list[CheckInAnswerJson]
    sessions: list[Instant]


class PractitionerInboxItemJson(TypedDict):
    """A check-in reply or urgent item for the client's practitioner."""

    id: str
    kind: str
    urgent: bool
    practitioner_id: str
    client_id: str
    check_in_id: str | None
    reason: str
    body: str | None
    created_at: Instant
    handled_at: Instant | None
    handled_by: str | None


class PractitionerInbox(TypedDict):
    """The practitioner's items, urgent first (up to 200)."""

    items: list[PractitionerInboxItemJson]
