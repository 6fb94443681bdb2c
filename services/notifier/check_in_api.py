"""Check-in answers and the practitioners' inbox. A client's answers (JSON, CSV, the chart) are
for the client's practitioner and admins only — the front desk gets 403 — and every read is
written to the audit log with who read what."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template_string
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifier import check_in_chart
from services.notifier.schemas import (
    CheckInAnswers,
    CheckInStatus,
    PractitionerInbox,
    PractitionerInboxItemJson,
)
from services.notifier.tables import (
    AUDIT,
    AppointmentView,
    CheckIn,
    CheckInAnswer,
    CheckInEnrolment,
    ClientContact,
    InboundMessage,
    PractitionerInboxItem,
)
from shared.auth import Principal, current_principal, require_role
from shared.http import Problem, not_found, parse_query
from shared.web import runtime

check_in_api = Blueprint("notifier_check_ins", __name__, url_prefix="/api/v1")
FORBIDDEN = "Check-in answers are for the client's practitioner and admins only."


def _reader(session: Session, client_id: str) -> Principal:
    principal = current_principal()
    if principal.is_admin:
        return principal
    enrolment = session.get(CheckInEnrolment, client_id)
    own = enrolment is not None and enrolment.practitioner_id == principal.practitioner_id
    if principal.role != "practitioner" or not own:
        raise Problem(403, "Not allowed", FORBIDDEN)
    return principal


def _read(client_id: str, what: str) -> tuple[list[CheckInAnswer], list[Any], str]:
    """The answers and session starts of a client, with the read audited in one transaction."""
    rt = runtime()
    with rt.db.transaction() as session:
        principal = _reader(session, client_id)
        contact = session.get(ClientContact, client_id)
        if contact is None and session.get(CheckInEnrolment, client_id) is None:
            raise not_found("client")  # nothing to read, and no read of it to audit
        answers = list(
            session.scalars(
                select(CheckInAnswer)
                .where(CheckInAnswer.client_id == client_id)
                .order_by(CheckInAnswer.received_at)
            )
        )
        sessions = list(
            session.scalars(
                select(AppointmentView.starts_at)
                .where(
                    AppointmentView.client_id == client_id, AppointmentView.status != "cancelled"
                )
                .order_by(AppointmentView.starts_at)
            )
        )
        AUDIT.record(
            session,
            at=rt.clock.now(),
            actor_id=principal.user_id,
            actor_role=principal.role,
            action="check_in_answers.read",
            entity="client",
            entity_id=client_id,
            reason=what,
        )
        session.expunge_all()
    return answers, sessions, contact.time_zone if contact else "UTC"


def _points(answers: list[CheckInAnswer]) -> list[check_in_chart.Point]:
    return [check_in_chart.Point(a.received_at, a.score, a.urgent) for a in answers]


@check_in_api.get("/check-ins/clients/<client_id>/answers")
def answers(client_id: str) -> Any:
    found, sessions, _ = _read(client_id, "json")
    answer: CheckInAnswers = {
        "items": [
            {
                "check_in_id": a.check_in_id,
                "score": a.score,
                "text": a.body,
                "received_at": a.received_at.isoformat(),
                "urgent": a.urgent,
            }
            for a in found
        ],
        "sessions": [s.isoformat() for s in sessions],
    }
    return jsonify(answer)


@check_in_api.get("/check-ins/clients/<client_id>/answers.csv")
def answers_csv(client_id: str) -> Any:
    found, _, zone = _read(client_id, "csv")
    return Response(
        check_in_chart.csv_text(_points(found), zone),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="check-ins.csv"'},
    )


@check_in_api.get("/check-ins/clients/<client_id>/chart.svg")
def chart_svg(client_id: str) -> Any:
    found, sessions, zone = _read(client_id, "svg")
    return Response(check_in_chart.svg(_points(found), sessions, zone), mimetype="image/svg+xml")


CHART_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Check-in scores</title></head>
<body>
<figure>
{{ svg | safe }}
<figcaption>Check-in scores, 0 (worst) to 10 (best); dashed lines are sessions.
<a href="answers.csv" download>Download CSV</a></figcaption>
</figure>
<table>
<caption>Check-in scores ({{ zone }})</caption>
<thead><tr><th scope="col">Received</th><th scope="col">Score</th>
<th scope="col">Urgent</th></tr></thead>
<tbody>
{% for p in points %}<tr><td>{{ p.at.astimezone(tz).strftime('%Y-%m-%d %H:%M') }}</td>
<td>{{ p.score }}</td><td>{{ 'yes' if p.urgent else 'no' }}</td></tr>
{% else %}<tr><td colspan="3">No answers yet.</td></tr>{% endfor %}
</tbody></table>
<table>
<caption>Sessions</caption>
<tbody>{% for s in sessions %}<tr><td>{{ s.astimezone(tz).strftime('%Y-%m-%d %H:%M') }}</td></tr>
{% else %}<tr><td>None.</td></tr>{% endfor %}</tbody></table>
</body></html>"""


@check_in_api.get("/check-ins/clients/<client_id>/chart")
def chart_page(client_id: str) -> Any:
    """The chart with its data table, for the client's page to show in a frame (no script)."""
    from zoneinfo import ZoneInfo

    found, sessions, zone = _read(client_id, "chart")
    points = _points(found)
    body = render_template_string(
        CHART_PAGE,
        svg=check_in_chart.svg(points, sessions, zone),
        points=points,
        sessions=sessions,
        zone=zone,
        tz=ZoneInfo(zone),
    )
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    return response


@check_in_api.get("/check-ins/clients/<client_id>")
def status(client_id: str) -> Any:
    """Whether the client is enrolled, paused, and when the next check-in is due (no answers:
    any signed-in staff may see this)."""
    with runtime().db.sessions() as session:
        enrolment = session.get(CheckInEnrolment, client_id)
        if enrolment is None:
            raise not_found("check-in enrolment")
        due = session.scalars(
            select(CheckIn.due_at)
            .where(
                CheckIn.client_id == client_id,
                CheckIn.kind == "question",
                CheckIn.status == "planned",
            )
            .order_by(CheckIn.due_at)
        ).first()
        answer: CheckInStatus = {
            "client_id": client_id,
            "active": enrolment.active,
            "paused": enrolment.paused_at is not None,
            "next_due_at": due.isoformat() if due else None,
        }
        return jsonify(answer)


# -- the practitioners' inbox -----------------------------------------------------------------


class InboxQuery(BaseModel):
    handled: bool = False


def inbox_json(
    item: PractitionerInboxItem, message: InboundMessage | None
) -> PractitionerInboxItemJson:
    return {
        "id": item.id,
        "kind": item.kind,
        "urgent": item.kind == "urgent",
        "practitioner_id": item.practitioner_id,
        "client_id": item.client_id,
        "check_in_id": item.check_in_id,
        "reason": item.reason,
        "body": message.body if message else None,
        "created_at": item.created_at.isoformat(),
        "handled_at": item.handled_at.isoformat() if item.handled_at else None,
        "handled_by": item.handled_by,
    }


@check_in_api.get("/practitioner-inbox")
@require_role("practitioner", "admin")
def practitioner_inbox() -> Any:
    """The signed-in practitioner's items (an admin sees everyone's), urgent first."""
    query = parse_query(InboxQuery)
    principal = current_principal()
    handled = (
        PractitionerInboxItem.handled_at.is_not(None)
        if query.handled
        else PractitionerInboxItem.handled_at.is_(None)
    )
    statement = (
        select(PractitionerInboxItem, InboundMessage)
        .join(InboundMessage, InboundMessage.id == PractitionerInboxItem.inbound_id, isouter=True)
        .where(handled)
        .order_by(
            (PractitionerInboxItem.kind == "urgent").desc(),
            PractitionerInboxItem.created_at.desc(),
        )
        .limit(200)
    )
    if not principal.is_admin:
        statement = statement.where(
            PractitionerInboxItem.practitioner_id == (principal.practitioner_id or "")
        )
    with runtime().db.sessions() as session:
        answer: PractitionerInbox = {
            "items": [inbox_json(item, m) for item, m in session.execute(statement)]
        }
        return jsonify(answer)


@check_in_api.post("/practitioner-inbox/<item_id>/handled")
@require_role("practitioner", "admin")
def practitioner_inbox_handled(item_id: str) -> Any:
    rt = runtime()
    principal = current_principal()
    with rt.db.transaction() as session:
        item = session.get(PractitionerInboxItem, item_id)
        mine = item is not None and (
            principal.is_admin or item.practitioner_id == principal.practitioner_id
        )
        if item is None or not mine:
            raise not_found("inbox item")
        if item.handled_at is None:
            item.handled_at, item.handled_by = rt.clock.now(), principal.email
        return jsonify(inbox_json(item, session.get(InboundMessage, item.inbound_id)))
