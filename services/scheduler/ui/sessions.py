"""Browser sessions for the front-desk UI: checking credentials, limiting failed sign-ins, and
the CSRF tokens of forms.

The session itself is the API's bearer token in the HttpOnly cookie ``rapport_session``; every
service verifies it (shared/auth.py). Before sign-in there is no session yet, so the sign-in
form's CSRF token is tied to a random value kept in Flask's signed session cookie.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

import jwt
from flask import request, session
from prometheus_client import Counter
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from services.scheduler.api.sign_in import TOKEN_TTL
from services.scheduler.tables import StaffUser
from shared.auth import SESSION_COOKIE, Principal, csrf_token_for, issue_token, verify_token
from shared.http import Problem
from shared.web import runtime

SIGN_INS = Counter(
    "rapport_ui_sign_ins_total",
    "Front-desk UI sign-in attempts by outcome (success, failed, limited, refused: no CSRF token)",
    ["outcome"],
)

# Compared against when the email is unknown, so both answers take as long.
_DUMMY_HASH = generate_password_hash("not-a-real-password")
PRE_SESSION_KEY = "ui_pre_csrf"


class FailedSignIns:
    """Failed sign-ins per key (an email or a client IP) in a sliding window, in this process.

    Each web process keeps its own count (gunicorn runs several), so the effective limit is at
    most ``limit`` times the number of web processes; the count restarts with the process.
    """

    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        stamps = self._failures.setdefault(key, deque())
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
            return deque()
        return stamps

    def retry_after(self, *keys: str) -> float:
        """Seconds until a key that reached the limit frees a slot; 0 when none is blocked."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                stamps = self._recent(key, now)
                if len(stamps) >= self.limit:
                    wait = max(wait, stamps[-self.limit] + self.window - now)
        return wait

    def fail(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._recent(key, now)
                self._failures.setdefault(key, deque()).append(now)

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


# 5 failures per email, 20 per client IP (a whole practice may share one IP), per 15 minutes.
EMAIL_LIMIT = FailedSignIns(limit=5, window_seconds=15 * 60)
IP_LIMIT = FailedSignIns(limit=20, window_seconds=15 * 60)


def client_ip() -> str:
    """The address the gateway saw: the last X-Forwarded-For entry (added by nginx itself;
    earlier entries come from the client and cannot be trusted), else the peer address."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    last = forwarded.split(",")[-1].strip()
    return last or request.remote_addr or "unknown"


def check_credentials(email: str, password: str) -> Principal | None:
    """The same check as ``POST /api/v1/auth/token``: an active staff user whose password
    hash matches."""
    with runtime().db.sessions() as db:
        user = db.scalars(select(StaffUser).where(StaffUser.email == email.strip().lower())).first()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return Principal(user.id, user.email, user.role, user.name, user.practitioner_id)


def still_active(principal: Principal) -> Principal | None:
    """The staff user behind a session as they are now (None once deactivated), so that
    extending a session never outlives the account."""
    with runtime().db.sessions() as db:
        user = db.get(StaffUser, principal.user_id)
    if user is None or not user.active:
        return None
    return Principal(user.id, user.email, user.role, user.name, user.practitioner_id)


def issue_session(principal: Principal) -> str:
    rt = runtime()
    return issue_token(rt.settings.secret_key, principal, rt.clock.now(), TOKEN_TTL)


def current_session() -> tuple[Principal, str] | None:
    """The signed-in user and their session token, or None (no cookie, bad or expired)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        rt = runtime()
        return verify_token(rt.settings.secret_key, token, rt.clock.now()), token
    except Problem:
        return None


def session_expires(token: str) -> datetime:
    """When a session token (already verified) runs out, by the application clock."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return datetime.fromtimestamp(int(claims["exp"]), UTC)


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
