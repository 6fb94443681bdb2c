"""The notifier's HTTP API: reminders, the message log, the desk inbox, the reminder policy,
templates and the sandbox."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from pydantic import BaseModel, model_validator
from sqlalchemy import select

from services.notifier import policy
from services.notifier.tables import PolicyRecord, Reminder
from shared.auth import current_principal, require_role
from shared.http import Problem, parse_body, parse_query
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


ReminderQuery = ByAppointmentOrClient


@api.get("/reminders")
def list_reminders() -> Any:
    query = parse_query(ByAppointmentOrClient)
    statement = select(Reminder).order_by(Reminder.due_at, Reminder.channel)
    if query.appointment_id:
        statement = statement.where(Reminder.appointment_id == query.appointment_id)
    if query.client_id:
        statement = statement.where(Reminder.client_id == query.client_id)
    with runtime().db.sessions() as session:
        return jsonify(items=[reminder_json(r) for r in session.scalars(statement)])


def reminder_json(r: Reminder) -> dict[str, Any]:
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
        records = session.scalars(select(PolicyRecord)).all()
    practice = next((r.document for r in records if r.scope == policy.PRACTICE), None)
    return jsonify(
        practice=practice or policy.DEFAULT.model_dump(mode="json"),
        service_types={r.scope: r.document for r in records if r.scope != policy.PRACTICE},
    )


@api.put("/reminder-policy")
@require_role("admin")
def put_policy() -> Any:
    update = parse_body(PolicyUpdate)
    document = policy.PolicyDocument.model_validate(update.model_dump(exclude={"service_type_id"}))
    rt = runtime()
    with rt.db.transaction() as session:
        scope = update.service_type_id or policy.PRACTICE
        policy.save(session, scope, document, rt.clock.now(), current_principal().email)
    return jsonify(scope=scope, policy=document.model_dump(mode="json"))


@api.delete("/reminder-policy/<service_type_id>")
@require_role("admin")
def delete_override(service_type_id: str) -> Any:
    with runtime().db.transaction() as session:
        record = session.get(PolicyRecord, service_type_id)
        if record is None or service_type_id == policy.PRACTICE:
            raise Problem(404, "Not found", "That service type has no policy of its own.")
        session.delete(record)
    return "", 204
