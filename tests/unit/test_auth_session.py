"""Browser sessions: the UI's HttpOnly cookie signs the desk in to every service's API, and a
request that changes something also needs the session's CSRF token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask, jsonify

from shared.auth import (
    CSRF_HEADER,
    SESSION_COOKIE,
    Principal,
    authenticate_request,
    csrf_token_for,
    current_principal,
    issue_token,
)
from shared.http import register_problem_handlers

SECRET = "s" * 40
NOW = datetime(2030, 1, 1, 4, 55, tzinfo=UTC)


@pytest.fixture
def client():
    app = Flask("probe")
    register_problem_handlers(app)

    @app.before_request
    def _auth() -> None:
        from flask import request

        authenticate_request(SECRET, app.view_functions.get(request.endpoint or ""), NOW)

    @app.route("/api/v1/things", methods=["GET", "POST"])
    def things():
        return jsonify(who=current_principal().email)

    return app.test_client()


def _session() -> str:
    principal = Principal("u1", "desk@example.com", "front_desk", "Desk")
    return issue_token(SECRET, principal, NOW, timedelta(hours=1))


def test_the_session_cookie_signs_in_for_reading(client) -> None:
    client.set_cookie(SESSION_COOKIE, _session())
    assert client.get("/api/v1/things").json == {"who": "desk@example.com"}


def test_a_change_with_the_cookie_but_no_csrf_token_is_refused(client) -> None:
    client.set_cookie(SESSION_COOKIE, _session())
    response = client.post("/api/v1/things")
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"


def test_a_change_with_another_sessions_csrf_token_is_refused(client) -> None:
    client.set_cookie(SESSION_COOKIE, _session())
    other = csrf_token_for(SECRET, _session() + "x")
    assert client.post("/api/v1/things", headers={CSRF_HEADER: other}).status_code == 403


def test_a_change_with_the_sessions_csrf_token_is_accepted(client) -> None:
    token = _session()
    client.set_cookie(SESSION_COOKIE, token)
    response = client.post("/api/v1/things", headers={CSRF_HEADER: csrf_token_for(SECRET, token)})
    assert response.status_code == 200


def test_a_bearer_token_needs_no_csrf_token(client) -> None:
    response = client.post("/api/v1/things", headers={"Authorization": f"Bearer {_session()}"})
    assert response.status_code == 200


def test_a_forged_cookie_is_not_signed_in(client) -> None:
    client.set_cookie(SESSION_COOKIE, _session()[:-3] + "abc")
    assert client.get("/api/v1/things").status_code == 401
