"""The scheduler as the shared machinery sees it."""

from __future__ import annotations

from pathlib import Path

from services.scheduler import demo
from services.scheduler.handlers import HANDLERS
from services.scheduler.tables import EVENTS, Base
from shared.service import ServiceDefinition


def _blueprints() -> list:
    from services.scheduler.api import api
    from services.scheduler.client_page import client_page
    from services.scheduler.feeds import feeds
    from services.scheduler.ui import ui

    return [api, feeds, ui, client_page]


SERVICE = ServiceDefinition(
    name="scheduler",
    metadata=Base.metadata,
    tables=EVENTS,
    handlers=HANDLERS,
    blueprints=_blueprints,
    migrations=Path(__file__).parent / "migrations",
    seed_demo=demo.seed,
)
