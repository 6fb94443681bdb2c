"""One login for all three services: the scheduler signs a short-lived bearer token (JWT,
HS256 with RAPPORT_SECRET_KEY) and every service verifies it without calling another."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

import jwt
from flask import g, request

from shared.http import Problem

ISSUER = "rapport"
AUDIENCE = "rapport-api"
ROLES = ("front_desk", "practitioner", "admin")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str
    role: str
    name: str
    practitioner_id: str | None = None
    # The practice lets practitioners see every client (its practitioners_see_all setting).
    sees_all_clients: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def client_scope(self) -> str | None:
        """None when this user may see every client; else the practitioner whose own clients
        and sessions are all they may see ("" for a practitioner login linked to none)."""
        if self.role != "practitioner" or self.sees_all_clients:
            return None
        return self.practitioner_id or ""


def issue_token(
    secret: str,
    principal: Principal,
    now: datetime,
    ttl: timedelta,
    session_id: str | None = None,
) -> str:
    """A signed token for ``principal`` valid for ``ttl`` from ``now``. A browser session's
    tokens share one ``session_id`` as they are renewed, which keeps its CSRF token."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": principal.user_id,
        "email": principal.email,
        "role": principal.role,
        "name": principal.name,
        "practitioner_id": principal.practitioner_id,
        "sees_all_clients": principal.sees_all_clients,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if session_id:
        claims["sid"] = session_id
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(secret: str, token: str, now: datetime) -> Principal:
    """The principal a token names, if it is genuine and unexpired at ``now``. Expiry is checked
    against the application clock rather than PyJWT's own reading of the machine's, so a system
    placed at another instant (RAPPORT_TEST_NOW) accepts the tokens it issued itself."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={
                "require": ["exp", "sub", "role"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidTokenError as exc:
        raise Problem(401, "Not signed in", "The access token is not valid.") from exc
    try:
        expires = int(claims["exp"])
    except (TypeError, ValueError) as exc:
        raise Problem(401, "Not signed in", "The access token is not valid.") from exc
    if expires <= now.timestamp():
        raise Problem(401, "Session expired", "Sign in again.")
    return Principal(
        user_id=claims["sub"],
        email=claims.get("email", ""),
        role=claims["role"],
        name=claims.get("name", ""),
        practitioner_id=claims.get("practitioner_id"),
        sees_all_clients=claims.get("sees_all_clients") is True,
    )


def public(view: F) -> F:
    """Mark a view that needs no bearer token (login, health, webhooks with their own check)."""
    view.rapport_public = True  # type: ignore[attr-defined]
    return view


SESSION_COOKIE = "rapport_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token_for(secret: str, session_token: str) -> str:
    """The CSRF token bound to one signed-in browser session. Any service can recompute it from
    the session cookie and the shared secret, so none has to store it. A renewed session keeps
    its token (the ``sid`` both tokens carry), so other open pages of the desk keep working."""
    try:
        sid = jwt.decode(session_token, options={"verify_signature": False}).get("sid")
    except jwt.InvalidTokenError:
        sid = None
    signature = (
        f"sid:{sid}" if isinstance(sid, str) and sid else session_token.rsplit(".", 1)[-1]
    ).encode()
    digest = hmac.new(secret.encode(), b"csrf:" + signature, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authenticate_request(secret: str, view: Callable[..., Any] | None, now: datetime) -> None:
    """before_request hook: every /api/ view needs a valid token unless it is public.

    A token comes as ``Authorization: Bearer`` (API clients) or as the front-desk UI's
    HttpOnly session cookie; with the cookie, a request that changes anything must also carry
    the session's CSRF token in ``X-CSRF-Token``.
    """
    if view is None or getattr(view, "rapport_public", False):
        return
    if not request.path.startswith("/api/"):
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        g.principal = verify_token(secret, token.strip(), now)
        return
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Problem(401, "Not signed in", "Send an Authorization: Bearer <token> header.")
    principal = verify_token(secret, cookie, now)
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent, csrf_token_for(secret, cookie)):
            raise Problem(
                403,
                "Request refused",
                "The page was out of date (missing security token). Reload and retry.",
            )
    g.principal = principal


def current_principal() -> Principal:
    principal = getattr(g, "principal", None)
    if principal is None:
        raise Problem(401, "Not signed in", "Sign in first.")
    return principal


def require_role(*roles: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if current_principal().role not in roles:
                raise Problem(403, "Not allowed", f"This needs the {' or '.join(roles)} role.")
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate
