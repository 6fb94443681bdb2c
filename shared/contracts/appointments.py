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


class AppointmentConfirmed(AppointmentFacts):
    TYPE = "appointment.confirmed"


class AppointmentCheckedIn(AppointmentFacts):
    TYPE = "appointment.checked_in"


class AppointmentCompleted(AppointmentFacts):
    TYPE = "appointment.completed"


class AppointmentNoShow(AppointmentFacts):
    TYPE = "appointment.no_show"
