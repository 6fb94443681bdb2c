"""The notifier's OpenAPI 3.1 document, served at /api/v1/notifier/openapi.json (a path the
gateway already sends to the notifier), built from the models its views validate with."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from services.notifier import api as views
from services.notifier import check_in_api
from services.notifier import schemas as answers
from services.notifier.api import api
from shared import openapi
from shared.auth import public

DOCUMENT = "/api/v1/notifier/openapi.json"
CLIENT_CHECK_INS = "/api/v1/check-ins/clients/{client_id}"
OPERATIONS: list[openapi.Operation] = [
    ("get", "/api/v1/reminders", "Reminders", None, views.ReminderQuery, 200),
    ("get", "/api/v1/reminder-policy", "The reminder policy", None, None, 200),
    (
        "put",
        "/api/v1/reminder-policy",
        "Set the practice's or a service type's policy (admin)",
        views.PolicyUpdate,
        None,
        200,
    ),
    (
        "delete",
        "/api/v1/reminder-policy/{service_type_id}",
        "Remove a service type's own policy (admin)",
        None,
        None,
        204,
    ),
    ("get", "/api/v1/messages", "The message log", None, views.ByAppointmentOrClient, 200),
    ("get", "/api/v1/inbox", "Replies that need a person", None, views.InboxQuery, 200),
    ("post", "/api/v1/inbox/{item_id}/handled", "Mark a reply handled", None, None, 200),
    ("get", "/api/v1/sandbox", "Messages recorded instead of sent", None, None, 200),
    (
        "post",
        "/api/v1/sandbox/replies",
        "Play a client's SMS reply",
        views.SandboxReply,
        None,
        201,
    ),
    ("get", "/api/v1/notifier/templates", "Message templates", None, None, 200),
    (
        "put",
        "/api/v1/notifier/templates/{kind}/{channel}",
        "Edit a template (admin)",
        views.TemplateUpdate,
        None,
        200,
    ),
    (
        "delete",
        "/api/v1/notifier/templates/{kind}/{channel}",
        "Restore the default template (admin)",
        None,
        None,
        204,
    ),
    (
        "get",
        f"{CLIENT_CHECK_INS}",
        "A client's check-in enrolment as the notifier follows it (their practitioner, admin)",
        None,
        None,
        200,
    ),
    ("get", f"{CLIENT_CHECK_INS}/answers", "A client's check-in scores", None, None, 200),
    ("get", f"{CLIENT_CHECK_INS}/answers.csv", "A client's scores as CSV", None, None, 200),
    ("get", f"{CLIENT_CHECK_INS}/chart.svg", "A client's scores as an SVG chart", None, None, 200),
    ("get", f"{CLIENT_CHECK_INS}/chart", "The chart with its data table", None, None, 200),
    (
        "get",
        "/api/v1/practitioner-inbox",
        "Check-in replies and urgent items for the practitioner (urgent first, up to 200)",
        None,
        check_in_api.InboxQuery,
        200,
    ),
    (
        "post",
        "/api/v1/practitioner-inbox/{item_id}/handled",
        "Mark a practitioner's inbox item handled",
        None,
        None,
        200,
    ),
    ("get", DOCUMENT, "This document", None, None, 200),
]
# What the check-in views answer with, besides JSON.
MEDIA = {
    f"{CLIENT_CHECK_INS}/answers.csv": ("text/csv",),
    f"{CLIENT_CHECK_INS}/chart.svg": ("image/svg+xml",),
    f"{CLIENT_CHECK_INS}/chart": ("text/html",),
}


RESPONSES: openapi.Responses = {
    ("get", "/api/v1/reminders"): openapi.Page[answers.ReminderJson],
    ("get", "/api/v1/reminder-policy"): answers.Policies,
    ("put", "/api/v1/reminder-policy"): answers.PolicySaved,
    ("get", "/api/v1/messages"): openapi.Page[answers.MessageJson],
    ("get", "/api/v1/inbox"): openapi.Page[answers.InboxItemJson],
    ("post", "/api/v1/inbox/{item_id}/handled"): answers.InboxItemJson,
    ("get", "/api/v1/sandbox"): answers.SandboxMessages,
    ("post", "/api/v1/sandbox/replies"): answers.SandboxReplyJson,
    ("get", "/api/v1/notifier/templates"): answers.Templates,
    ("put", "/api/v1/notifier/templates/{kind}/{channel}"): answers.TemplateJson,
    ("get", CLIENT_CHECK_INS): answers.CheckInStatus,
    ("get", f"{CLIENT_CHECK_INS}/answers"): answers.CheckInAnswers,
    ("get", "/api/v1/practitioner-inbox"): answers.PractitionerInbox,
    ("post", "/api/v1/practitioner-inbox/{item_id}/handled"): answers.PractitionerInboxItemJson,
    ("get", DOCUMENT): openapi.Document,
}


def _webhook(summary: str, name: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "operationId": name,
            "security": [],
            "description": "Signed by Twilio (X-Twilio-Signature); anything else is a 403.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {"type": "object", "additionalProperties": {"type": "string"}}
                    }
                },
            },
            "responses": {
                "200": {"description": "Handled (TwiML)", "content": {"text/xml": {}}},
                "204": {"description": "Nothing to do"},
                "default": openapi.PROBLEM_RESPONSE,
            },
        }
    }


def build_document() -> openapi.Document:
    return openapi.build_document(
        title="Rapport notifier API",
        description="Reminders, the message log, the desk inbox, the reminder policy, message "
        "templates, the sandbox, check-in scores, the practitioner's inbox and Twilio's "
        "webhooks. Errors are application/problem+json (RFC 9457).",
        operations=OPERATIONS,
        public={DOCUMENT},
        media=MEDIA,
        responses=RESPONSES,
        extra_paths={
            "/webhooks/twilio/sms": _webhook("An inbound SMS", "post_twilio_sms"),
            "/webhooks/twilio/status": _webhook("A delivery status", "post_twilio_status"),
        },
    )


@api.get("/notifier/openapi.json")
@public
def openapi_document() -> Any:
    return jsonify(build_document())
