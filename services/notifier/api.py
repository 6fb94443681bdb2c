"""The notifier's HTTP API: reminders, the message log, the desk inbox, the reminder policy,
templates and the sandbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from flask import Blueprint, jsonify
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select

from services.notifier import access, policy, practice, templates
from services.notifier.schemas import (
    InboxItemJson,
    MessageJson,
    Policies,
    PolicySaved,
    ReminderJson,
    SampleJson,
    SandboxMessages,
    SandboxReplyJson,
    TemplateJson,
    Templates,
)
from services.notifier.settings import NotifierSettings
from services.notifier.tables import (
    InboundMessage,
    Message,
    PolicyRecord,
    Reminder,
    SandboxMessage,
    TemplateRecord,
)
from shared.auth import current_principal, require_role
from shared.http import Problem, not_found, parse_body, parse_query
from shared.pagination import PageQuery, paginate
from shared.web import runtime

api = Blueprint("notifier_api", __name__, url_prefix="/api/v1")


class ByAppointmentOrClient(BaseModel):
    appointment_id: str | None = None
    client_id: str | None = None

    @model_validator(mode="after")
    def _one_filter(self) -> ByAppointmentOrClient:
        if not (self.appointment_id or self.client_id):
            raise ValueError("give appointment_id or client_id")
        return self


class ReminderQuery(PageQuery):
    appointment_id: str | None = None
    client_id: str | None = None
    # e.g. status=unknown: what a stopped worker left for the desk to check
    status: (
        Literal[
            "planned", "sending", "sent", "failed", "unknown", "undelivered", "cancelled", "skipped"
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _one_filter(self) -> ReminderQuery:
        if not (self.appointment_id or self.client_id or self.status):
            raise ValueError("give appointment_id, client_id or status")
        return self


@api.get("/reminders")
def list_reminders() -> Any:
    query = parse_query(ReminderQuery)
    """Reminders in the order they fall due, a page at a time (``limit``, ``cursor``)."""
    statement = select(Reminder)
    if query.status:
        statement = statement.where(Reminder.status == query.status)
    if query.appointment_id:
        statement = statement.where(Reminder.appointment_id == query.appointment_id)
    if query.client_id:
        statement = statement.where(Reminder.client_id == query.client_id)
    statement = access.by_appointment(statement, Reminder.appointment_id)
    keys = (Reminder.due_at, Reminder.channel, Reminder.id)
    with runtime().db.sessions() as session:
        return jsonify(
            paginate(
                session, statement, keys, query, reminder_json, (datetime.fromisoformat, str, str)
            )
        )


def reminder_json(r: Reminder) -> ReminderJson:
    return {
        "id": r.id,
        "appointment_id": r.appointment_id,
        "client_id": r.client_id,
        "kind": r.kind,
        "channel": r.channel,
        "due_at": r.due_at.isoformat(),
        "status": r.status,
        "appointment_sequence": r.appointment_sequence,
        "attempts": r.attempts,
        "sent_at": r.sent_at.isoformat() if r.sent_at else None,
        "note": r.note,
    }


# -- the reminder policy --------------------------------------------------------------------


class PolicyUpdate(policy.PolicyDocument):
    service_type_id: str | None = None  # absent: the practice's default


@api.get("/reminder-policy")
def get_policy() -> Any:
    with runtime().db.sessions() as session:
        documents = policy.all_documents(session)
    answer: Policies = {
        "practice": policy.policy_json(documents.pop(policy.PRACTICE, policy.DEFAULT)),
        "service_types": {scope: policy.policy_json(d) for scope, d in documents.items()},
    }
    return jsonify(answer)


@api.put("/reminder-policy")
@require_role("admin")
def put_policy() -> Any:
    update = parse_body(PolicyUpdate)
    document = policy.PolicyDocument.model_validate(update.model_dump(exclude={"service_type_id"}))
    rt = runtime()
    with rt.db.transaction() as session:
        scope = update.service_type_id or policy.PRACTICE
        policy.save(session, scope, document, rt.clock.now(), current_principal().email)
    answer: PolicySaved = {"scope": scope, "policy": policy.policy_json(document)}
    return jsonify(answer)


@api.delete("/reminder-policy/<service_type_id>")
@require_role("admin")
def delete_override(service_type_id: str) -> Any:
    with runtime().db.transaction() as session:
        record = session.get(PolicyRecord, service_type_id)
        if record is None or service_type_id == policy.PRACTICE:
            raise Problem(404, "Not found", "That service type has no policy of its own.")
        session.delete(record)
    return "", 204


# -- the message log, the desk inbox, the sandbox ---------------------------------------------


class MessageQuery(ByAppointmentOrClient, PageQuery):
    pass


def message_json(m: Message) -> MessageJson:
    return {
        "id": m.id,
        "reminder_id": m.reminder_id,
        "appointment_id": m.appointment_id,
        "client_id": m.client_id,
        "channel": m.channel,
        "kind": m.kind,
        "provider": m.provider,
        "status": m.status,
        "error_code": m.error_code,
        "created_at": m.created_at.isoformat(),
        "updated_at": m.updated_at.isoformat(),
    }


@api.get("/messages")
def list_messages() -> Any:
    """A session's or a client's messages, oldest first, a page at a time."""
    query = parse_query(MessageQuery)
    statement = select(Message)
    if query.appointment_id:
        statement = statement.where(Message.appointment_id == query.appointment_id)
    if query.client_id:
        statement = statement.where(Message.client_id == query.client_id)
    statement = access.by_appointment(statement, Message.appointment_id)
    keys = (Message.created_at, Message.id)
    with runtime().db.sessions() as session:
        return jsonify(
            paginate(session, statement, keys, query, message_json, (datetime.fromisoformat, str))
        )


class InboxQuery(PageQuery):
    handled: bool = False


@api.get("/inbox")
def list_inbox() -> Any:
    """Replies for the desk, newest first, a page at a time."""
    query = parse_query(InboxQuery)
    handled = (
        InboundMessage.handled_at.is_not(None)
        if query.handled
        else InboundMessage.handled_at.is_(None)
    )
    statement = select(InboundMessage).where(InboundMessage.needs_desk.is_(True), handled)
    keys = (InboundMessage.received_at, InboundMessage.id)
    statement = access.by_client(statement, InboundMessage.client_id)
    with runtime().db.sessions() as session:
        return jsonify(
            paginate(
                session,
                statement,
                keys,
                query,
                inbox_json,
                (datetime.fromisoformat, str),
                descending=True,
            )
        )


def inbox_json(m: InboundMessage) -> InboxItemJson:
    return {
        "id": m.id,
        "from": m.from_phone,
        "client_id": m.client_id,
        "appointment_id": m.appointment_id,
        "intent": m.intent,
        "body": m.body,
        "received_at": m.received_at.isoformat(),
        "handled_at": m.handled_at.isoformat() if m.handled_at else None,
        "handled_by": m.handled_by,
    }


@api.post("/inbox/<item_id>/handled")
def mark_handled(item_id: str) -> Any:
    rt = runtime()
    with rt.db.transaction() as session:
        item = session.get(InboundMessage, item_id)
        if item is None or not item.needs_desk:
            raise not_found("inbox item")
        access.require_client(session, item.client_id, "inbox item")
        if item.handled_at is None:
            item.handled_at, item.handled_by = rt.clock.now(), current_principal().email
        return jsonify(inbox_json(item))


@api.get("/sandbox")
def list_sandbox() -> Any:
    statement = select(SandboxMessage).order_by(SandboxMessage.created_at.desc()).limit(200)
    with runtime().db.sessions() as session:
        recipients = access.own_recipients(session)
        if recipients is not None:
            statement = statement.where(SandboxMessage.recipient.in_(recipients))
        answer: SandboxMessages = {
            "items": [
                {
                    "id": m.id,
                    "channel": m.channel,
                    "to": m.recipient,
                    "subject": m.subject,
                    "body": m.body,
                    "calendar_attached": m.has_calendar,
                    "calendar": m.calendar,
                    "created_at": m.created_at.isoformat(),
                }
                for m in session.scalars(statement)
            ]
        }
        return jsonify(answer)


class SandboxReply(BaseModel):
    from_: str = Field(alias="from", min_length=2, max_length=20)
    body: str = Field(max_length=1600)


@api.post("/sandbox/replies")
def sandbox_reply() -> Any:
    """Play a client's SMS reply in the embedded default, where no Twilio can deliver one."""
    from services.notifier.channels import configured
    from services.notifier.webhooks import receive_sms

    reply = parse_body(SandboxReply)
    if configured(runtime().settings.extra)["sms"] != "sandbox":
        raise Problem(409, "Conflict", "SMS goes through Twilio here; replies arrive by webhook.")
    with runtime().db.sessions() as session:
        recipients = access.own_recipients(session)
    if recipients is not None and reply.from_ not in recipients:
        raise not_found("client with that number")
    inbound = receive_sms(f"sandbox-{uuid.uuid4()}", reply.from_, reply.body)
    answer: SandboxReplyJson = {
        "id": inbound.id,
        "intent": inbound.intent,
        "client_id": inbound.client_id,
    }
    return jsonify(answer), 201


# -- templates ----------------------------------------------------------------------------------


class TemplateUpdate(BaseModel):
    text: str = Field(min_length=1, max_length=2000)
    subject: str | None = Field(None, max_length=300)
    html: str | None = Field(None, max_length=20000)


@api.get("/notifier/templates")
def list_templates() -> Any:
    with runtime().db.sessions() as session:
        edited = {(t.kind, t.channel): t for t in session.scalars(select(TemplateRecord))}
    items: list[TemplateJson] = []
    speaker = _practice()
    for kind in templates.KINDS:
        for channel in templates.CHANNELS:
            record = edited.get((kind, channel))
            default = templates.DEFAULTS[(kind, channel)]
            template = (
                templates.Template(record.text, record.subject, record.html) if record else default
            )
            items.append(
                {
                    "kind": kind,
                    "channel": channel,
                    "edited": record is not None,
                    "subject": template.subject,
                    "text": template.text,
                    "html": template.html,
                    "sample": _sample_json(template, kind, channel, speaker),
                }
            )
    answer: Templates = {
        "items": items,
        "variables": list(templates.VARIABLES),
        "course_variables": list(templates.COURSE_VARIABLES),
    }
    return jsonify(answer)


def _template_key(kind: str, channel: str) -> None:
    if kind not in templates.KINDS or channel not in templates.CHANNELS:
        raise not_found("template")


@api.put("/notifier/templates/<kind>/<channel>")
@require_role("admin")
def put_template(kind: str, channel: str) -> Any:
    _template_key(kind, channel)
    update = parse_body(TemplateUpdate)
    template = templates.Template(update.text, update.subject, update.html)
    try:
        found = templates.check(template, channel, kind, **_practice())
    except templates.TemplateProblem as exc:
        raise Problem(422, "Template refused", str(exc)) from exc
    rt = runtime()
    with rt.db.transaction() as session:
        record = session.get(TemplateRecord, (kind, channel))
        if record is None:
            record = TemplateRecord(kind=kind, channel=channel)
            session.add(record)
        record.text, record.subject, record.html = update.text, update.subject, update.html
        record.updated_at = rt.clock.now()
    answer: TemplateJson = {
        "kind": kind,
        "channel": channel,
        "edited": True,
        "subject": update.subject,
        "text": update.text,
        "html": update.html,
        "sample": sample_json(found),
    }
    return jsonify(answer)


def _practice() -> dict[str, str]:
    settings = NotifierSettings.from_env(runtime().settings.extra)
    with runtime().db.sessions() as session:
        speaker = practice.voice(session, settings)
    return {"practice_name": speaker.name, "practice_phone": speaker.phone}


def _sample_json(
    template: templates.Template, kind: str, channel: str, speaker: dict[str, str]
) -> SampleJson | None:
    """The template rendered with ordinary values and, for SMS, its encoding and segments."""
    try:
        return sample_json(templates.sample(template, kind, channel, **speaker))
    except templates.TemplateProblem:
        return None


def sample_json(found: templates.Sample) -> SampleJson:
    return {
        "text": found.text,
        "encoding": found.encoding,
        "characters": found.characters,
        "segments": found.segments,
    }


@api.delete("/notifier/templates/<kind>/<channel>")
@require_role("admin")
def restore_template(kind: str, channel: str) -> Any:
    _template_key(kind, channel)
    with runtime().db.transaction() as session:
        record = session.get(TemplateRecord, (kind, channel))
        if record is not None:
            session.delete(record)
    return "", 204
