"""Appointment lifecycle events. Each carries the appointment's state after the change and its
``sequence``; consumers ignore an event whose sequence is not newer than what they hold."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from shared.contracts import Contract

AppointmentStatus = Literal[
    "booked", "confirmed", "checked_in", "completed", "no_show", "cancelled"
]


class AppointmentFacts(Contract):
    appointment_id: str
    sequence: int
    status: AppointmentStatus
    client_id: str
    practitioner_id: str
    service_type_id: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    time_zone: str
    course_id: str | None = None
    location: str | None = None
    video_url: str | None = None  # added within v1: a video session's join link
    # Added within v1: True when the change came with a course.* event (a course booked, or
    # the rest of a course moved or cancelled) that speaks to the client for all its sessions.
    course_change: bool = False
    # Added within v1: the secret of the session's self-service page (``/s/<token>``) that the
    # client's messages link to; None when the session has no live link.
    self_service_token: str | None = None


class AppointmentBooked(AppointmentFacts):
    TYPE = "appointment.booked"


class AppointmentRescheduled(AppointmentFacts):
    TYPE = "appointment.rescheduled"
    previous_starts_at: AwareDatetime


class AppointmentCancelled(AppointmentFacts):
    TYPE = "appointment.cancelled"
    cancelled_by: Literal["client", "practice"]
    reason: str = ""
    late: bool = False


class AppointmentLocationChanged(AppointmentFacts):
    """Where the session takes place changed (its location or its video join link)."""

    TYPE = "appointment.location_changed"


class AppointmentSelfServiceLinkReplaced(AppointmentFacts):
    """The desk revoked the session's self-service link; ``self_service_token`` is the new one,
    which the client's later messages carry."""

    TYPE = "appointment.self_service_link_replaced"


class AppointmentConfirmed(AppointmentFacts):
    TYPE = "appointment.confirmed"


class AppointmentCheckedIn(AppointmentFacts):
    TYPE = "appointment.checked_in"


class AppointmentCompleted(AppointmentFacts):
    TYPE = "appointment.completed"


class AppointmentNoShow(AppointmentFacts):
    TYPE = "appointment.no_show"


class AppointmentRescheduleRequested(Contract):
    """The client asked, through the session's self-service page, to move it: the desk follows
    up. Nothing about the appointment itself changed, so this carries no ``sequence``."""

    TYPE = "appointment.reschedule_requested"
    appointment_id: str
    client_id: str
    starts_at: AwareDatetime
    time_zone: str
    requested_at: AwareDatetime


class CourseSession(Contract):
    """One session of a course change, as it stands after the change."""

    appointment_id: str
    sequence: int
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    previous_starts_at: AwareDatetime | None = None


class CourseFacts(Contract):
    """Several sessions of one course changed together. Each session also has its own
    appointment.* event (with ``course_change``); this one lets a consumer that speaks to the
    client say it once for the whole course."""

    course_id: str
    client_id: str
    practitioner_id: str
    service_type_id: str
    time_zone: str
    location: str | None = None
    every_weeks: int | None = None
    sessions: list[CourseSession]


class CourseBooked(CourseFacts):
    TYPE = "course.booked"


class CourseRescheduled(CourseFacts):
    TYPE = "course.rescheduled"


class CourseCancelled(CourseFacts):
    TYPE = "course.cancelled"
    cancelled_by: Literal["client", "practice"]
