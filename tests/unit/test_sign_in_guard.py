"""Every sign-in attempt does the same work whether or not the email belongs to an account,
so its answer time does not tell which emails exist."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from services.scheduler import sign_in_guard
from services.scheduler.tables import Base, SignInFailure, StaffUser
from shared.clock import FrozenClock
from shared.db import Database


@pytest.fixture
def db(tmp_path) -> Database:
    database = Database(f"sqlite:///{tmp_path}/scheduler.db")
    Base.metadata.create_all(database.engine)
    with database.transaction() as session:
        session.add_all(
            [
                StaffUser(
                    id="u-1",
                    email="desk@example.com",
                    name="Desk",
                    role="front_desk",
                    password_hash=generate_password_hash("right"),
                    active=True,
                ),
                StaffUser(
                    id="u-2",
                    email="gone@example.com",
                    name="Gone",
                    role="front_desk",
                    password_hash=generate_password_hash("right"),
                    active=False,
                ),
            ]
        )
    return database


@pytest.mark.parametrize(
    ("email", "password", "signed_in"),
    [
        ("desk@example.com", "right", True),
        ("desk@example.com", "wrong", False),
        ("gone@example.com", "right", False),
        ("nobody@example.com", "right", False),
    ],
    ids=["right", "wrong-password", "inactive", "unknown-email"],
)
def test_each_attempt_checks_exactly_one_password_hash(
    db: Database, monkeypatch: pytest.MonkeyPatch, email: str, password: str, signed_in: bool
) -> None:
    checked: list[str] = []
    real = sign_in_guard.check_password_hash

    def counting(pwhash: str, candidate: str) -> bool:
        checked.append(pwhash)
        return real(pwhash, candidate)

    monkeypatch.setattr(sign_in_guard, "check_password_hash", counting)
    clock = FrozenClock(datetime(2027, 1, 1, 4, 55, tzinfo=UTC))

    outcome = sign_in_guard.attempt(db, clock, email, password, "192.0.2.1", via="api")

    assert (outcome.principal is not None) is signed_in
    assert len(checked) == 1
    # The stand-in hash costs what a real one does (same method and parameters).
    assert checked[0].split("$")[0] == generate_password_hash("x").split("$")[0]
    with db.sessions() as session:
        failures = session.scalars(select(SignInFailure.key)).all()
    assert sorted(failures) == ([] if signed_in else [f"email:{email}", "ip:192.0.2.1"])
