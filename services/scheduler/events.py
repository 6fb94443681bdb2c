"""Turning scheduler rows into the events it publishes."""

from __future__ import annotations

from services.scheduler import self_service
from services.scheduler.tables import Appointment, Client, Practice, Practitioner, ServiceType
from shared.contracts.appointments import AppointmentFacts, CourseFacts, CourseSession
from shared.contracts.registry_data import (
    ClientRegistered,
    ClientUpdated,
    PracticeUpdated,
    PractitionerRegistered,
    PractitionerUpdated,
    ServiceTypeDefined,
    ServiceTypeUpdated,
)


def appointment_facts(
    appointment: Appointment, self_service_token: str | None = None
) -> dict[str, object]:
    """``self_service_token``: the session's live link when the caller just made it (a new
    session has none to look up); otherwise it is looked up, or made."""
    return {
        "appointment_id": appointment.id,
        "sequence": appointment.sequence,
        "status": appointment.status,
        "client_id": appointment.client_id,
        "practitioner_id": appointment.practitioner_id,
        "service_type_id": appointment.service_type_id,
        "starts_at": appointment.starts_at,
        "ends_at": appointment.ends_at,
        "time_zone": appointment.time_zone,
        "course_id": appointment.course_id,
        "location": appointment.location,
        "video_url": appointment.video_url,
        "self_service_token": self_service_token or self_service.live_token(appointment),
    }


def appointment_event(
    event: type[AppointmentFacts], appointment: Appointment, **extra: object
) -> AppointmentFacts:
    return event.model_validate({**appointment_facts(appointment), **extra})


def course_event(
    event: type[CourseFacts],
    sessions: list[Appointment],
    *,
    previous: dict[str, object] | None = None,
    every_weeks: int | None = None,
    **extra: object,
) -> CourseFacts:
    """One event for sessions of a course that changed together (``previous``: the start of
    each moved session before the move, by appointment id)."""
    first = sessions[0]
    assert first.course_id is not None
    return event(
        course_id=first.course_id,
        client_id=first.client_id,
        practitioner_id=first.practitioner_id,
        service_type_id=first.service_type_id,
        time_zone=first.time_zone,
        location=first.location,
        every_weeks=every_weeks,
        sessions=[
            CourseSession(
                appointment_id=a.id,
                sequence=a.sequence,
                starts_at=a.starts_at,
                ends_at=a.ends_at,
                previous_starts_at=(previous or {}).get(a.id),  # type: ignore[arg-type]
            )
            for a in sessions
        ],
        **extra,
    )


def practice_updated(practice: Practice) -> PracticeUpdated:
    return PracticeUpdated(
        practice_id=practice.id,
        revision=practice.revision,
        name=practice.name,
        time_zone=practice.time_zone,
        currency=practice.currency,
        phone=practice.phone,
        address=practice.address,
    )


def client_snapshot(client: Client, *, new: bool) -> ClientRegistered | ClientUpdated:
    event = ClientRegistered if new else ClientUpdated
    return event(
        client_id=client.id,
        revision=client.revision,
        first_name=client.first_name,
        last_name=client.last_name,
        email=client.email,
        phone=client.phone,
        time_zone=client.time_zone,
        locale=client.locale,
        preferred_channels=[c for c in client.preferred_channels.split(",") if c],  # type: ignore[misc]
        sms_consent=client.sms_consent,
        email_consent=client.email_consent,
        active=client.active,
    )


def practitioner_registered(practitioner: Practitioner) -> PractitionerRegistered:
    return practitioner_snapshot(practitioner, new=True)  # type: ignore[return-value]


def practitioner_snapshot(
    practitioner: Practitioner, *, new: bool
) -> PractitionerRegistered | PractitionerUpdated:
    event = PractitionerRegistered if new else PractitionerUpdated
    return event(
        practitioner_id=practitioner.id,
        revision=practitioner.revision,
        display_name=practitioner.display_name,
        time_zone=practitioner.time_zone,
        active=practitioner.active,
    )


def service_type_defined(service_type: ServiceType) -> ServiceTypeDefined:
    return service_type_snapshot(service_type, new=True)  # type: ignore[return-value]


def service_type_snapshot(
    service_type: ServiceType, *, new: bool
) -> ServiceTypeDefined | ServiceTypeUpdated:
    event = ServiceTypeDefined if new else ServiceTypeUpdated
    return event(
        service_type_id=service_type.id,
        revision=service_type.revision,
        name=service_type.name,
        duration=service_type.duration,
        cpt_code=service_type.cpt_code,
        billable=service_type.billable,
        active=service_type.active,
    )
