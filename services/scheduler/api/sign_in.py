"""Sign-in: a bearer token every service can verify."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import jsonify
from pydantic import BaseModel, Field
from sqlalchemy import select
from werkzeug.security import check_password_hash

from services.scheduler.api.common import api
from services.scheduler.tables import StaffUser
from shared.auth import Principal, issue_token, public
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
    with rt.db.sessions() as session:
        user = session.scalars(
            select(StaffUser).where(StaffUser.email == body.email.strip().lower())
        ).first()
    if (
        user is None
        or not user.active
        or not check_password_hash(user.password_hash, body.password)
    ):
        raise Problem(401, "Sign-in failed", "The email or password is not right.")
    principal = Principal(user.id, user.email, user.role, user.name, user.practitioner_id)
    token = issue_token(rt.settings.secret_key, principal, rt.clock.now(), TOKEN_TTL)
    return jsonify(
        access_token=token,
        token_type="Bearer",  # noqa: S106 - the OAuth token type, not a secret
        expires_in=int(TOKEN_TTL.total_seconds()),
        role=user.role,
        name=user.name,
    )
