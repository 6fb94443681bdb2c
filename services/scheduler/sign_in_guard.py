"""Who may sign in, for the API's token endpoint and the desk's form alike: the password is
checked in the same time whether or not the email exists, failures are limited per email and
per address in the scheduler's database (so every web process and replica counts the same
ones), and every sign-in and failure is in the audit log."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from services.scheduler import access
from services.scheduler.tables import AUDIT, SignInFailure, StaffUser
from shared.auth import Principal
from shared.clock import Clock
from shared.db import Database

# Compared against when the email is unknown or inactive, so every answer takes as long.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


@dataclass(frozen=True)
class Limit:
    key_prefix: str
    failures: int
    window: timedelta


# 5 failures per email, 20 per address (a whole practice may share one), per 15 minutes.
EMAIL_LIMIT = Limit("email", 5, timedelta(minutes=15))
ADDRESS_LIMIT = Limit("ip", 20, timedelta(minutes=15))


@dataclass(frozen=True)
class Attempt:
    principal: Principal | None
    retry_after: float = 0.0  # seconds; more than zero: refused without checking the password

    @property
    def limited(self) -> bool:
        return self.retry_after > 0


def attempt(
    db: Database, clock: Clock, email: str, password: str, address: str, via: str
) -> Attempt:
    """Check one sign-in. ``via`` says where it came from (``api`` or ``form``) for the audit."""
    email = email.strip().lower()
    keys = {EMAIL_LIMIT: f"email:{email}", ADDRESS_LIMIT: f"ip:{address}"}
    now = clock.now()
    with db.sessions() as session:
        wait = max(_retry_after(session, key, limit, now) for limit, key in keys.items())
        user = session.scalars(select(StaffUser).where(StaffUser.email == email)).first()
    if wait > 0:
        _record(db, now, "staff.sign_in_limited", user, address, via)
        return Attempt(None, wait)
    # The hash is checked outside any transaction (it is slow on purpose), and always once.
    matches = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not user.active or not matches:
        _record(db, now, "staff.sign_in_failed", user, address, via, failed_keys=keys.values())
        return Attempt(None)
    _record(db, now, "staff.signed_in", user, address, via, cleared_key=keys[EMAIL_LIMIT])
    with db.sessions() as session:
        return Attempt(access.principal_for(session, user))


def _retry_after(session: Session, key: str, limit: Limit, now: datetime) -> float:
    recent = session.scalars(
        select(SignInFailure.failed_at)
        .where(SignInFailure.key == key, SignInFailure.failed_at > now - limit.window)
        .order_by(SignInFailure.failed_at.desc())
        .limit(limit.failures)
    ).all()
    if len(recent) < limit.failures:
        return 0.0
    return max(0.0, (recent[-1] + limit.window - now).total_seconds())


def _record(
    db: Database,
    now: datetime,
    action: str,
    user: StaffUser | None,
    address: str,
    via: str,
    failed_keys: Iterable[str] = (),
    cleared_key: str | None = None,
) -> None:
    oldest = now - max(EMAIL_LIMIT.window, ADDRESS_LIMIT.window)
    with db.transaction() as session:
        session.add_all(SignInFailure(key=key, failed_at=now) for key in failed_keys)
        if cleared_key is not None:
            session.execute(delete(SignInFailure).where(SignInFailure.key == cleared_key))
        session.execute(delete(SignInFailure).where(SignInFailure.failed_at < oldest))
        # The address and the channel, never the email typed for an unknown account (people
        # type passwords into the wrong field).
        AUDIT.record(
            session,
            at=now,
            actor_id=user.id if user and action == "staff.signed_in" else "anonymous",
            actor_role=user.role if user and action == "staff.signed_in" else "anonymous",
            action=action,
            entity="staff_user",
            entity_id=user.id if user else "unknown",
            after={"address": address, "via": via},
        )
