"""How the practice speaks in messages: its name, phone and address as the scheduler last
published them (practice.updated); the NOTIFIER_PRACTICE_* settings only until it has."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifier.settings import NotifierSettings
from services.notifier.tables import PracticeProfile
from shared.phones import display_phone


@dataclass(frozen=True)
class Voice:
    name: str
    phone: str  # as a client dials it: "+1 617-555-0100"
    address: str | None = None


def voice(session: Session, settings: NotifierSettings) -> Voice:
    profile = session.scalars(
        select(PracticeProfile).order_by(PracticeProfile.revision.desc())
    ).first()
    if profile is None:
        return Voice(settings.practice_name, settings.practice_phone)
    phone = display_phone(profile.phone) if profile.phone else settings.practice_phone
    return Voice(profile.name, phone, profile.address)
