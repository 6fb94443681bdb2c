"""The notifier as the shared machinery sees it."""

from __future__ import annotations

from pathlib import Path

from services.notifier.handlers import HANDLERS
from services.notifier.tables import EVENTS, Base
from shared.service import ServiceDefinition


def _blueprints() -> list:
    from services.notifier.api import api

    return [api]


SERVICE = ServiceDefinition(
    name="notifier",
    metadata=Base.metadata,
    tables=EVENTS,
    handlers=HANDLERS,
    blueprints=_blueprints,
    migrations=Path(__file__).parent / "migrations",
)
