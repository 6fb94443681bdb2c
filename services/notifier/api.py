"""The notifier's HTTP API: the reminders of an appointment or a client."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from pydantic import BaseModel, model_validator
from sqlalchemy import select

from services.notifier.tables import Reminder
from shared.http import parse_query
from shared.web import runtime

api = Blueprint("notifier_api", __name__, url_prefix="/api/v1")


class ReminderQuery(BaseModel):
    appointment_id: str | None = None
    client_id: str | None = None

    @model_validator(mode="after")
    def _one_filter(self) -> ReminderQuery:
        if not (self.appointment_id or self.client_id):
            raise ValueError("give appointment_id or client_id")
        return self


@api.get("/reminders")
def list_reminders() -> Any:
    query = parse_query(ReminderQuery)
    statement = select(Reminder).order_by(Reminder.due_at)
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
    }
