"""A session's self-service link as the desk sees it: its URL (to read out or send by hand) and
revoking it: the old URL answers 404 at once, and a new one goes to the notifier
(``appointment.self_service_link_replaced``) for the client's later messages."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from services.scheduler import access, self_service
from services.scheduler.api import schemas
from services.scheduler.api.common import api, appointment_json, audit
from services.scheduler.api.lifecycle import locked
from services.scheduler.events import appointment_event
from shared.contracts.appointments import AppointmentSelfServiceLinkReplaced
from shared.web import runtime


@api.get("/appointments/<appointment_id>/self-service-link")
def self_service_link(appointment_id: str) -> Any:
    rt = runtime()
    with rt.db.transaction() as session:
        appointment = access.visible_appointment(session, locked(session, appointment_id))
        token = self_service.live_token(appointment)
        assert token is not None
        link: schemas.SelfServiceLink = {
            "url": self_service.link_url(rt.settings.public_url, token),
            "expires_at": appointment.ends_at.isoformat(),
        }
        return jsonify(link)


@api.post("/appointments/<appointment_id>/self-service-link/revoke")
def revoke_self_service_link(appointment_id: str) -> Any:
    rt = runtime()
    now = rt.clock.now()
    with rt.db.transaction() as session:
        appointment = access.visible_appointment(session, locked(session, appointment_id))
        before = appointment_json(appointment)
        revoked = self_service.revoke(session, appointment.id, now)
        appointment.sequence += 1
        appointment.updated_at = now
        session.flush()
        # The event's token is the session's new link, made as the event is built.
        replaced = appointment_event(AppointmentSelfServiceLinkReplaced, appointment)
        rt.emitter.emit(session, replaced)
        audit(
            session,
            replaced.TYPE,
            "appointment",
            appointment.id,
            before,
            appointment_json(appointment),
            reason="the client's previous link to this session no longer works",
        )
        url = self_service.link_url(rt.settings.public_url, str(replaced.self_service_token))
    rt.outbox_written()
    replaced_link: schemas.ReplacedSelfServiceLink = {"revoked": revoked, "url": url}
    return jsonify(replaced_link)
