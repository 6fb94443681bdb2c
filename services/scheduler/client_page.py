"""The client's page for one session (``/s/<token>``), public behind the link's secret: plain
HTML forms (no JavaScript, nothing from another site) to confirm, cancel, ask to reschedule, and
an .ics download. Each action goes the desk's way (lifecycle), once however often it is sent;
any link that is not live answers a plain 404."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, make_response, redirect, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.scheduler import lifecycle, self_service
from services.scheduler.tables import (
    AUDIT,
    Appointment,
    Client,
    Practice,
    Practitioner,
    SelfServiceLink,
)
from shared.auth import public
from shared.contracts import Contract
from shared.contracts.appointments import AppointmentConfirmed, AppointmentRescheduleRequested
from shared.dates import format_date, format_time
from shared.phones import display_phone
from shared.web import runtime

client_page = Blueprint("client_page", __name__, template_folder="ui/templates")

# Who the audit log names for changes made through a session's link.
CLIENT_LINK_ACTOR = ("client-link", "client")
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
DONE = {
    "confirmed": "Thank you: your appointment is confirmed.",
    "cancelled": "Your appointment is cancelled.",
    "reschedule": "We have told the practice; they will contact you to find a new time.",
}


@client_page.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Cache-Control"] = "no-store"
    return response


def _not_found() -> Any:
    return make_response(render_template("client/not_found.html"), 404)


def _practice(session: Session) -> Practice | None:
    return session.scalars(select(Practice)).first()


def _choices(
    appointment: Appointment, practice: Practice | None, now: datetime
) -> tuple[timedelta, self_service.Choices]:
    """The practice's cancellation window, and what the page offers under its policy now."""
    window = practice.cancellation_window if practice else timedelta(0)
    allowed = practice.client_cancellation if practice else True
    return window, self_service.choices(
        appointment, now, window=window, client_cancellation=allowed
    )


def _where(appointment: Appointment, practice: Practice | None) -> str | None:
    """As the messages say it: the session's location, else (unless it is a video session) the
    practice's address."""
    if appointment.location:
        return appointment.location
    if appointment.video_url:
        return None
    return practice.address if practice else None


def _practice_time(appointment: Appointment, local: datetime, locale: str) -> str | None:
    """The session's time where it takes place, when that clock reads differently from the
    client's (as the messages give it)."""
    there = appointment.starts_at.astimezone(ZoneInfo(appointment.time_zone))
    if there.utcoffset() == local.utcoffset():
        return None
    return format_time(there, locale, with_zone=False)


def _hours(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g} hour" + ("" if hours == 1 else "s")


def _when(instant: datetime, client: Client) -> str:
    local = instant.astimezone(ZoneInfo(client.time_zone))
    return f"{format_date(local, client.locale)}, {format_time(local, client.locale)}"


@client_page.get("/s/<token>")
@public
def show(token: str) -> Any:
    rt = runtime()
    now = rt.clock.now()
    with rt.db.sessions() as session:
        found = self_service.find(session, token, now)
        if found is None:
            return _not_found()
        link, appointment = found
        practice = _practice(session)
        client = session.get(Client, appointment.client_id)
        practitioner = session.get(Practitioner, appointment.practitioner_id)
        assert client is not None and practitioner is not None
        local = appointment.starts_at.astimezone(ZoneInfo(client.time_zone))
        window, can = _choices(appointment, practice, now)
        body = render_template(
            "client/session.html",
            token=token,
            nonce=self_service.form_nonce(rt.settings.secret_key, token),
            lang=client.locale.replace("_", "-"),
            practice_name=practice.name if practice else "Rapport",
            practice_phone=practice.phone if practice else None,
            practice_phone_shown=display_phone(practice.phone)
            if practice and practice.phone
            else None,
            practitioner=practitioner.display_name,
            date=format_date(local, client.locale),
            time=format_time(local, client.locale),
            practice_time=_practice_time(appointment, local, client.locale),
            where=_where(appointment, practice),
            video_url=appointment.video_url,
            status=appointment.status,
            cancelled_by=appointment.cancelled_by,
            late=appointment.late_cancellation,
            reschedule_asked=link.reschedule_asked_at is not None,
            can=can,
            window=_hours(window),
            free_until=_when(appointment.starts_at - window, client) if window else None,
            done=DONE.get(request.args.get("done", "")),
        )
    return make_response(body, 200)


@client_page.get("/s/<token>/appointment.ics")
@public
def calendar_file(token: str) -> Any:
    rt = runtime()
    now = rt.clock.now()
    with rt.db.sessions() as session:
        found = self_service.find(session, token, now)
        if found is None:
            return _not_found()
        _, appointment = found
        practitioner = session.get(Practitioner, appointment.practitioner_id)
        assert practitioner is not None
        body = self_service.session_calendar(
            appointment, practitioner.display_name, _where(appointment, _practice(session)), now
        )
    return Response(
        body,
        content_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="appointment.ics"'},
    )


@dataclass
class Step:
    """One action from the page, on the locked session and its link."""

    session: Session
    link: SelfServiceLink
    appointment: Appointment
    window: timedelta
    can: self_service.Choices
    now: datetime
    emit: Callable[[Contract], Any]


def _confirm(step: Step) -> bool:
    if not step.can.confirm:
        return False
    lifecycle.apply(
        step.session,
        step.appointment,
        "confirm",
        AppointmentConfirmed,
        now=step.now,
        emit=step.emit,
        actor=CLIENT_LINK_ACTOR,
        audit_reason="client confirmed through their link",
        changes={"confirmed_by": "client"},
    )
    return True


def _cancel(step: Step) -> bool:
    if not step.can.cancel:
        return False
    lifecycle.cancel(
        step.session,
        step.appointment,
        cancelled_by="client",
        reason="Cancelled by the client through their link",
        window=step.window,
        now=step.now,
        emit=step.emit,
        actor=CLIENT_LINK_ACTOR,
    )
    return True


def _ask_to_reschedule(step: Step) -> bool:
    if not step.can.reschedule or step.link.reschedule_asked_at is not None:
        return False
    step.link.reschedule_asked_at = step.now
    asked = AppointmentRescheduleRequested(
        appointment_id=step.appointment.id,
        client_id=step.appointment.client_id,
        starts_at=step.appointment.starts_at,
        time_zone=step.appointment.time_zone,
        requested_at=step.now,
    )
    step.emit(asked)
    AUDIT.record(
        step.session,
        at=step.now,
        actor_id=CLIENT_LINK_ACTOR[0],
        actor_role=CLIENT_LINK_ACTOR[1],
        action=asked.TYPE,
        entity="appointment",
        entity_id=step.appointment.id,
        reason="client asked through their link to reschedule",
    )
    return True


ACTIONS: dict[str, tuple[Callable[[Step], bool], str]] = {
    "confirm": (_confirm, "confirmed"),
    "cancel": (_cancel, "cancelled"),
    "reschedule": (_ask_to_reschedule, "reschedule"),
}


@client_page.post("/s/<token>/<action>")
@public
def act(token: str, action: str) -> Any:
    """An action the session no longer allows (done already, on this page or at the desk)
    changes nothing: the page then shows how the session stands."""
    if action not in ACTIONS:
        return _not_found()
    perform, outcome = ACTIONS[action]
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        found = self_service.find(session, token, now, lock=True)
        if found is None:
            return _not_found()
        if not self_service.nonce_matches(rt.settings.secret_key, token, request.form.get("nonce")):
            return make_response(render_template("client/refused.html", token=token), 400)
        link, appointment = found
        window, can = _choices(appointment, _practice(session), now)
        emit = lambda contract: rt.emitter.emit(session, contract)  # noqa: E731
        done = perform(Step(session, link, appointment, window, can, now, emit))
    if not done:
        return redirect(f"/s/{token}", code=303)
    rt.outbox_written()
    return redirect(f"/s/{token}?done={outcome}", code=303)
