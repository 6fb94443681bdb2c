"""Browser sessions for the front-desk UI: the session cookie and the CSRF tokens of forms
(checking credentials and limiting failed sign-ins is services/scheduler/sign_in_guard.py,
shared with the API).

The session itself is the API's bearer token in the HttpOnly cookie ``rapport_session``; every
service verifies it (shared/auth.py). It lasts the practice's idle timeout (``desk_idle_minutes``)
from the desk's last activity: the page renews it while someone uses the desk, and the
scheduler also measures the time since then against the practice's current setting, so a
shorter timeout applies at once. Before sign-in there is no session yet, so the sign-in
form's CSRF token is tied to a random value kept in Flask's signed session cookie.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from flask import request, session
from prometheus_client import Counter
from sqlalchemy import select

from services.scheduler import access
from services.scheduler.api.practice import DESK_IDLE_DEFAULT
from services.scheduler.api.sign_in import TOKEN_TTL
from services.scheduler.tables import Practice, StaffUser
from shared.auth import SESSION_COOKIE, Principal, csrf_token_for, issue_token, verify_token
from shared.http import Problem
from shared.web import runtime

SIGN_INS = Counter(
    "rapport_ui_sign_ins_total",
    "Front-desk UI sign-in attempts by outcome (success, failed, limited, refused: no CSRF token)",
    ["outcome"],
)

PRE_SESSION_KEY = "ui_pre_csrf"


def still_active(principal: Principal) -> Principal | None:
    """The staff user behind a session as they are now (None once deactivated), so that
    extending a session never outlives the account."""
    with runtime().db.sessions() as db:
        user = db.get(StaffUser, principal.user_id)
        if user is None or not user.active:
            return None
        return access.principal_for(db, user)


def idle_timeout() -> timedelta:
    """How long the desk stays signed in without activity, as the practice has set it."""
    with runtime().db.sessions() as db:
        minutes = db.scalars(select(Practice.desk_idle_minutes)).first()
    return min(timedelta(minutes=minutes or DESK_IDLE_DEFAULT), TOKEN_TTL)


def issue_session(principal: Principal, renewing: str | None = None) -> str:
    """A session token from now (the desk's latest activity) to the idle timeout; renewing
    ``renewing`` keeps its session id and so its CSRF token."""
    rt = runtime()
    sid = _claims(renewing).get("sid") if renewing else None
    return issue_token(
        rt.settings.secret_key,
        principal,
        rt.clock.now(),
        idle_timeout(),
        session_id=sid if isinstance(sid, str) and sid else str(uuid.uuid4()),
    )


def current_session() -> tuple[Principal, str] | None:
    """The signed-in user and their session token, or None (no cookie, bad, expired, or idle
    longer than the practice's timeout)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    rt = runtime()
    try:
        principal = verify_token(rt.settings.secret_key, token, rt.clock.now())
    except Problem:
        return None
    if session_expires(token) <= rt.clock.now():
        return None
    return principal, token


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def session_expires(token: str) -> datetime:
    """When a session token (already verified) runs out, by the application clock: at its own
    expiry, or sooner if the practice has since shortened the idle timeout."""
    claims = _claims(token)
    expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    if "sid" in claims and "iat" in claims:
        idle = datetime.fromtimestamp(int(claims["iat"]), UTC) + idle_timeout()
        expires = min(expires, idle)
    return expires


def safe_next(target: str | None) -> str | None:
    """A page of this site to return to after signing in (never another origin)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if target.startswith(("/sign-in", "/sign-out", "/session/")):
        return None
    return target[:2000]


def session_csrf(token: str) -> str:
    return csrf_token_for(runtime().settings.secret_key, token)


def pre_session_csrf() -> str:
    """The sign-in form's token, bound to this browser by Flask's signed session cookie."""
    value = session.get(PRE_SESSION_KEY)
    if not value:
        value = secrets.token_urlsafe(32)
        session[PRE_SESSION_KEY] = value
    return str(value)


def same(sent: str | None, expected: str | None) -> bool:
    return bool(sent) and bool(expected) and hmac.compare_digest(str(sent), str(expected))
