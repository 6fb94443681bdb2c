"""Sign-in: a bearer token every service can verify."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from flask import jsonify, request
from pydantic import BaseModel, Field

from services.scheduler import sign_in_guard
from services.scheduler.api import schemas
from services.scheduler.api.common import api
from shared.auth import issue_token, public
from shared.http import Problem, parse_body
from shared.web import runtime

TOKEN_TTL = timedelta(hours=12)


class SignIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=200)


@api.post("/auth/token")
@public
def sign_in() -> Any:
    body = parse_body(SignIn)
    rt = runtime()
    outcome = sign_in_guard.attempt(
        rt.db, rt.clock, body.email, body.password, client_address(), via="api"
    )
    if outcome.limited:
        minutes = max(1, math.ceil(outcome.retry_after / 60))
        problem = Problem(
            429,
            "Too many failed sign-ins",
            f"Wait {minutes} minute{'s' if minutes > 1 else ''} and try again, "
            "or ask an admin to check the account.",
        ).response()
        problem.headers["Retry-After"] = str(math.ceil(outcome.retry_after))
        return problem
    if outcome.principal is None:
        raise Problem(401, "Sign-in failed", "The email or password is not right.")
    principal = outcome.principal
    token = issue_token(rt.settings.secret_key, principal, rt.clock.now(), TOKEN_TTL)
    answer: schemas.Token = {
        "access_token": token,
        "token_type": "Bearer",  # noqa: S105 - the OAuth token type, not a secret
        "expires_in": int(TOKEN_TTL.total_seconds()),
        "role": principal.role,
        "name": principal.name,
    }
    return jsonify(answer)


def client_address() -> str:
    """The address the gateway saw: the last X-Forwarded-For entry (added by nginx itself;
    earlier entries come from the client and cannot be trusted), else the peer address."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    last = forwarded.split(",")[-1].strip()
    return last or request.remote_addr or "unknown"
