"""A session's self-service link as the desk sees it: its URL (to read out or send by hand) and
revoking it (the old URL answers 404 at once; the session's next message carries a new one)."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from services.scheduler import self_service
from services.scheduler.api.common import api, audit
from services.scheduler.api.lifecycle import locked
from shared.web import runtime


@api.get("/appointments/<appointment_id>/self-service-link")
def self_service_link(appointment_id: str) -> Any:
    rt = runtime()
    with rt.db.transaction() as session:
        appointment = locked(session, appointment_id)
        token = self_service.live_token(appointment)
        assert token is not None
        return jsonify(
            url=self_service.link_url(rt.settings.public_url, token),
            expires_at=appointment.ends_at.isoformat(),
        )


@api.post("/appointments/<appointment_id>/self-service-link/revoke")
def revoke_self_service_link(appointment_id: str) -> Any:
    rt = runtime()
    with rt.db.transaction() as session:
        appointment = locked(session, appointment_id)
        revoked = self_service.revoke(session, appointment.id, rt.clock.now())
        if revoked:
            audit(
                session,
                "appointment.self_service_link_revoked",
                "appointment",
                appointment.id,
                reason="the client's link to this session no longer works",
            )
    return jsonify(revoked=revoked)
