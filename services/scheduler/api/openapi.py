"""The scheduler's OpenAPI 3.1 document, with request schemas taken from the pydantic models
that validate them (so the document cannot drift from what the API accepts) and success bodies
from the types the serializers return (services/scheduler/api/schemas.py)."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from services.scheduler.api import (
    appointments,
    audit,
    availability,
    check_ins,
    lifecycle,
    people,
    practice,
    search,
    waitlist,
)
from services.scheduler.api import schemas as s
from services.scheduler.api.common import api
from services.scheduler.api.sign_in import SignIn
from shared import openapi
from shared.auth import public
from shared.pagination import PageQuery

# (method, path, summary, request body model, query model, success status)
OPERATIONS: list[openapi.Operation] = [
    ("post", "/api/v1/auth/token", "Sign in; returns a bearer token", SignIn, None, 200),
    ("get", "/api/v1/practice", "Practice settings", None, None, 200),
    (
        "put",
        "/api/v1/practice",
        "Change practice settings (admin)",
        practice.PracticeSettings,
        None,
        200,
    ),
    ("get", "/api/v1/staff", "Staff users (admin; paginated)", None, PageQuery, 200),
    ("post", "/api/v1/staff", "Add a staff user (admin)", practice.NewStaffUser, None, 201),
    (
        "post",
        "/api/v1/staff/{user_id}/deactivate",
        "Deactivate a staff user (admin)",
        None,
        None,
        200,
    ),
    ("get", "/api/v1/practitioners", "Practitioners (paginated)", None, PageQuery, 200),
    (
        "post",
        "/api/v1/practitioners",
        "Add a practitioner (admin)",
        people.PractitionerFields,
        None,
        201,
    ),
    (
        "get",
        "/api/v1/practitioners/{practitioner_id}",
        "A practitioner with weekly hours",
        None,
        None,
        200,
    ),
    (
        "patch",
        "/api/v1/practitioners/{practitioner_id}",
        "Change a practitioner (admin or self)",
        people.PractitionerFields,
        None,
        200,
    ),
    (
        "get",
        "/api/v1/practitioners/{practitioner_id}/working-hours",
        "Weekly working hours",
        None,
        None,
        200,
    ),
    (
        "put",
        "/api/v1/practitioners/{practitioner_id}/working-hours",
        "Replace weekly working hours",
        people.WeeklyHours,
        None,
        200,
    ),
    (
        "get",
        "/api/v1/practitioners/{practitioner_id}/time-off",
        "Time off and extra hours",
        None,
        None,
        200,
    ),
    (
        "post",
        "/api/v1/practitioners/{practitioner_id}/time-off",
        "Add time off or extra hours",
        people.TimeOffFields,
        None,
        201,
    ),
    (
        "delete",
        "/api/v1/practitioners/{practitioner_id}/time-off/{time_off_id}",
        "Remove time off",
        None,
        None,
        204,
    ),
    (
        "get",
        "/api/v1/practitioners/{practitioner_id}/feed",
        "The practitioner's iCal feed URL",
        None,
        None,
        200,
    ),
    (
        "post",
        "/api/v1/practitioners/{practitioner_id}/feed/rotate",
        "Replace the feed URL",
        None,
        None,
        200,
    ),
    (
        "get",
        "/api/v1/appointments/{appointment_id}/self-service-link",
        "The session's self-service link for the client (made if it has none live)",
        None,
        None,
        200,
    ),
    (
        "post",
        "/api/v1/appointments/{appointment_id}/self-service-link/revoke",
        "Replace the session's self-service link (the old one answers 404 from now on)",
        None,
        None,
        200,
    ),
    ("get", "/api/v1/clients", "Clients (paginated; q searches)", None, people.ClientQuery, 200),
    ("get", "/api/v1/search", "Search clients and their sessions", None, search.SearchQuery, 200),
    ("post", "/api/v1/clients", "Register a client", people.ClientFields, None, 201),
    ("get", "/api/v1/clients/{client_id}", "A client", None, None, 200),
    ("patch", "/api/v1/clients/{client_id}", "Change a client", people.ClientPatch, None, 200),
    ("get", "/api/v1/clients/{client_id}/feed", "The client's iCal feed URL", None, None, 200),
    (
        "post",
        "/api/v1/clients/{client_id}/feed/rotate",
        "Replace the client's feed URL",
        None,
        None,
        200,
    ),
    ("get", "/api/v1/check-in-settings", "Check-in questions and safety net", None, None, 200),
    (
        "put",
        "/api/v1/check-in-settings",
        "Set check-in questions and the safety net (admin)",
        check_ins.CheckInSettingsBody,
        None,
        200,
    ),
    ("get", "/api/v1/clients/{client_id}/check-ins", "The client's check-ins", None, None, 200),
    (
        "put",
        "/api/v1/clients/{client_id}/check-ins",
        "Enrol the client in check-ins, or change them (practitioner, admin)",
        check_ins.EnrolmentBody,
        None,
        200,
    ),
    ("delete", "/api/v1/clients/{client_id}/check-ins", "End check-ins", None, None, 200),
    ("get", "/api/v1/service-types", "Service types (paginated)", None, PageQuery, 200),
    (
        "post",
        "/api/v1/service-types",
        "Define a service type (admin)",
        people.ServiceTypeFields,
        None,
        201,
    ),
    ("get", "/api/v1/service-types/{service_type_id}", "A service type", None, None, 200),
    (
        "patch",
        "/api/v1/service-types/{service_type_id}",
        "Change a service type (admin)",
        people.ServiceTypeFields,
        None,
        200,
    ),
    ("get", "/api/v1/availability", "Free slots", None, availability.AvailabilityQuery, 200),
    (
        "post",
        "/api/v1/appointments",
        "Book a session (Idempotency-Key supported)",
        appointments.BookAppointment,
        None,
        201,
    ),
    ("get", "/api/v1/appointments", "Appointments", None, appointments.AppointmentQuery, 200),
    ("get", "/api/v1/appointments/{appointment_id}", "An appointment", None, None, 200),
    (
        "patch",
        "/api/v1/appointments/{appointment_id}",
        "Change where a session takes place (location, video join link)",
        appointments.SessionPlace,
        None,
        200,
    ),
    ("post", "/api/v1/appointments/{appointment_id}/confirm", "Confirm", None, None, 200),
    ("post", "/api/v1/appointments/{appointment_id}/check-in", "Check in", None, None, 200),
    ("post", "/api/v1/appointments/{appointment_id}/complete", "Complete", None, None, 200),
    ("post", "/api/v1/appointments/{appointment_id}/no-show", "Mark a no-show", None, None, 200),
    (
        "post",
        "/api/v1/appointments/{appointment_id}/cancel",
        "Cancel (one or the rest of a course)",
        lifecycle.CancelAppointment,
        None,
        200,
    ),
    (
        "post",
        "/api/v1/appointments/{appointment_id}/reschedule",
        "Reschedule (one or the rest of a course)",
        lifecycle.RescheduleAppointment,
        None,
        200,
    ),
    (
        "post",
        "/api/v1/courses",
        "Book a course (Idempotency-Key supported)",
        availability.BookCourse,
        None,
        201,
    ),
    ("get", "/api/v1/courses/{course_id}", "A course's sessions", None, None, 200),
    ("get", "/api/v1/audit", "Audit log (admin)", None, audit.AuditQuery, 200),
    (
        "post",
        "/api/v1/waitlist",
        "Put a client on the waiting list",
        waitlist.NewWaitlistEntry,
        None,
        201,
    ),
    (
        "get",
        "/api/v1/waitlist",
        "The waiting list, with each entry's offers",
        None,
        waitlist.WaitlistQuery,
        200,
    ),
    ("get", "/api/v1/waitlist/{entry_id}", "A waiting-list entry and its offers", None, None, 200),
    (
        "post",
        "/api/v1/waitlist/{entry_id}/remove",
        "Take a client off the waiting list",
        None,
        None,
        200,
    ),
    ("get", "/api/v1/waitlist-settings", "How freed slots are offered", None, None, 200),
    (
        "put",
        "/api/v1/waitlist-settings",
        "Change how freed slots are offered (admin)",
        waitlist.WaitlistSettings,
        None,
        200,
    ),
    ("get", "/api/v1/openapi.json", "This document", None, None, 200),
]
APPOINTMENT = "/api/v1/appointments/{appointment_id}"
PRACTITIONER = "/api/v1/practitioners/{practitioner_id}"
CLIENT = "/api/v1/clients/{client_id}"
SERVICE_TYPE = "/api/v1/service-types/{service_type_id}"
# (method, path) -> the type of the operation's JSON success body
RESPONSES: openapi.Responses = {
    ("post", "/api/v1/auth/token"): s.Token,
    ("get", "/api/v1/practice"): s.Practice,
    ("put", "/api/v1/practice"): s.Practice,
    ("get", "/api/v1/staff"): openapi.Page[s.StaffUser],
    ("post", "/api/v1/staff"): s.StaffUser,
    ("post", "/api/v1/staff/{user_id}/deactivate"): s.StaffUser,
    ("get", "/api/v1/practitioners"): openapi.Page[s.Practitioner],
    ("post", "/api/v1/practitioners"): s.Practitioner,
    ("get", PRACTITIONER): s.PractitionerWithHours,
    ("patch", PRACTITIONER): s.Practitioner,
    ("get", PRACTITIONER + "/working-hours"): s.WorkingHours,
    ("put", PRACTITIONER + "/working-hours"): s.WorkingHours,
    ("get", PRACTITIONER + "/time-off"): s.TimeOffList,
    ("post", PRACTITIONER + "/time-off"): s.TimeOff,
    ("get", PRACTITIONER + "/feed"): s.FeedLinks,
    ("post", PRACTITIONER + "/feed/rotate"): s.FeedLinks,
    ("get", APPOINTMENT + "/self-service-link"): s.SelfServiceLink,
    ("post", APPOINTMENT + "/self-service-link/revoke"): s.ReplacedSelfServiceLink,
    ("get", "/api/v1/clients"): openapi.Page[s.Client],
    ("get", "/api/v1/search"): openapi.Page[s.SearchHit],
    ("post", "/api/v1/clients"): s.Client,
    ("get", CLIENT): s.Client,
    ("patch", CLIENT): s.Client,
    ("get", CLIENT + "/feed"): s.FeedLinks,
    ("post", CLIENT + "/feed/rotate"): s.FeedLinks,
    ("get", "/api/v1/check-in-settings"): s.CheckInSettings,
    ("put", "/api/v1/check-in-settings"): s.CheckInSettings,
    ("get", CLIENT + "/check-ins"): s.CheckInEnrolment,
    ("put", CLIENT + "/check-ins"): s.CheckInEnrolment,
    ("delete", CLIENT + "/check-ins"): s.CheckInEnrolment,
    ("get", "/api/v1/service-types"): openapi.Page[s.ServiceType],
    ("post", "/api/v1/service-types"): s.ServiceType,
    ("get", SERVICE_TYPE): s.ServiceType,
    ("patch", SERVICE_TYPE): s.ServiceType,
    ("get", "/api/v1/availability"): s.Availability,
    ("post", "/api/v1/appointments"): s.Appointment,
    ("get", "/api/v1/appointments"): openapi.Page[s.Appointment],
    ("get", APPOINTMENT): s.Appointment,
    ("patch", APPOINTMENT): s.Appointment,
    ("post", APPOINTMENT + "/confirm"): s.Appointment,
    ("post", APPOINTMENT + "/check-in"): s.Appointment,
    ("post", APPOINTMENT + "/complete"): s.Appointment,
    ("post", APPOINTMENT + "/no-show"): s.Appointment,
    ("post", APPOINTMENT + "/cancel"): s.CancelledAppointment,
    ("post", APPOINTMENT + "/reschedule"): s.RescheduledAppointment,
    ("post", "/api/v1/courses"): s.CourseBooking,
    ("get", "/api/v1/courses/{course_id}"): s.Course,
    ("get", "/api/v1/audit"): s.AuditLog,
    ("post", "/api/v1/waitlist"): s.WaitlistEntry,
    ("get", "/api/v1/waitlist"): openapi.Page[s.WaitlistEntry],
    ("get", "/api/v1/waitlist/{entry_id}"): s.WaitlistEntry,
    ("post", "/api/v1/waitlist/{entry_id}/remove"): s.WaitlistEntry,
    ("get", "/api/v1/waitlist-settings"): s.WaitlistOffering,
    ("put", "/api/v1/waitlist-settings"): s.WaitlistOffering,
    ("get", "/api/v1/openapi.json"): openapi.Document,
}
PUBLIC = {"/api/v1/auth/token", "/api/v1/openapi.json"}
FEED = {
    "get": {
        "summary": "A practitioner's or client's iCalendar feed (the token is the secret)",
        "operationId": "get_feed",
        "security": [],
        "parameters": [
            {
                "name": "kind",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": ["practitioner", "client"]},
            },
            {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "responses": {
            "200": {"description": "The feed", "content": {"text/calendar": {}}},
            "304": {"description": "Not modified (If-None-Match / If-Modified-Since)"},
            "404": {"description": "Unknown or replaced feed URL"},
        },
    }
}


def build_document() -> openapi.Document:
    return openapi.build_document(
        title="Rapport scheduler API",
        description="Practice, staff, practitioners, clients, service types, availability, "
        "appointments, courses, audit log and iCal feeds. Errors are application/problem+json "
        "(RFC 9457).",
        operations=OPERATIONS,
        public=PUBLIC,
        extra_paths={"/feeds/{kind}/{token}.ics": FEED},
        responses=RESPONSES,
    )


@api.get("/openapi.json")
@public
def openapi_document() -> Any:
    return jsonify(build_document())
