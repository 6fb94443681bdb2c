"""Billing as the shared machinery sees it."""

from __future__ import annotations

from pathlib import Path

from services.billing import demo
from services.billing.handlers import HANDLERS
from services.billing.tables import EVENTS, Base
from shared.service import ServiceDefinition


def _blueprints() -> list:
    from services.billing.api import api

    return [api]


SERVICE = ServiceDefinition(
    name="billing",
    metadata=Base.metadata,
    tables=EVENTS,
    handlers=HANDLERS,
    blueprints=_blueprints,
    migrations=Path(__file__).parent / "migrations",
    seed_demo=demo.seed,
)
