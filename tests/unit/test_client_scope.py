"""Whose clients a signed-in user sees, as the notifier and billing read it from the token: every
client for the front desk and admins, and for a practitioner only their own unless the practice
lets practitioners see all; a token without the claim grants nothing more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from shared.auth import Principal, issue_token, verify_token

SECRET = "s" * 40
NOW = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
CASES = {
    "front-desk": (Principal("u1", "d@x", "front_desk", "D"), None),
    "admin": (Principal("u2", "a@x", "admin", "A"), None),
    "practitioner": (Principal("u3", "p@x", "practitioner", "P", "pr-1"), "pr-1"),
    "practitioner-sees-all": (Principal("u4", "q@x", "practitioner", "Q", "pr-2", True), None),
    "practitioner-unlinked": (Principal("u5", "r@x", "practitioner", "R"), ""),
}


@pytest.mark.parametrize("principal, scope", CASES.values(), ids=list(CASES))
def test_the_token_carries_what_the_user_may_see(principal: Principal, scope: str | None) -> None:
    token = issue_token(SECRET, principal, NOW, timedelta(hours=1))
    assert verify_token(SECRET, token, NOW).client_scope == scope


def test_a_practitioner_token_without_the_claim_sees_only_their_own() -> None:
    token = issue_token(SECRET, CASES["practitioner-sees-all"][0], NOW, timedelta(hours=1))
    claims = jwt.decode(token, options={"verify_signature": False})
    del claims["sees_all_clients"]
    stripped = jwt.encode(claims, SECRET, algorithm="HS256")
    assert verify_token(SECRET, stripped, NOW).client_scope == "pr-2"
