"""Between-session check-ins: what the scheduler tells the notifier about a practice's safety
settings and a client's enrolment, and what the notifier says back. An answer's score or words
never travel: ``check_in.answer_recorded`` only says that one was recorded."""

from __future__ import annotations

from datetime import date, time
from typing import Literal

from pydantic import AwareDatetime

from shared.contracts import Contract


class CheckInSettingsUpdated(Contract):
    """The practice's safety net: the score at or below which an answer is urgent, the words
    that make any reply urgent, and the message sent to the client then (None until set)."""

    TYPE = "check_in.settings_updated"
    revision: int
    threshold: int
    crisis_words: list[str]
    safety_message: str | None = None


class CheckInEnrolmentChanged(Contract):
    """A client's check-ins as they stand now (the whole snapshot; ``active`` false: ended)."""

    TYPE = "check_in.enrolment_changed"
    enrolment_id: str
    client_id: str
    practitioner_id: str
    revision: int
    active: bool
    # daily at local_time; on weekdays (0 = Monday) at local_time; or days_after each session
    schedule: Literal["daily", "weekdays", "after_session"]
    local_time: time
    weekdays: list[int] = []
    days_after: int | None = None
    # until until_date (inclusive, the client's zone), or while the client has upcoming sessions
    until: Literal["date", "upcoming_sessions"]
    until_date: date | None = None
    question: str


class CheckInAnswerRecorded(Contract):
    """A client answered a check-in. Neither the score nor the words are in here."""

    TYPE = "check_in.answer_recorded"
    check_in_id: str
    client_id: str
    practitioner_id: str
    received_at: AwareDatetime
