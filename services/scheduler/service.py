"""The scheduler as the shared machinery sees it."""

from __future__ import annotations

from pathlib import Path

from services.scheduler import demo
from services.scheduler.handlers import HANDLERS
from services.scheduler.tables import EVENTS, Base
from shared.service import Loop, Runtime, ServiceDefinition


def _blueprints() -> list:
    from services.scheduler.api import api
    from services.scheduler.client_page import client_page
    from services.scheduler.feeds import feeds
    from services.scheduler.offers import offers
    from services.scheduler.ui import ui

    return [api, feeds, offers, ui, client_page]


def _loops(rt: Runtime) -> list[Loop]:
    from services.scheduler.refill import Refill

    return [Refill(rt).run]


SERVICE = ServiceDefinition(
    name="scheduler",
    metadata=Base.metadata,
    tables=EVENTS,
    handlers=HANDLERS,
    blueprints=_blueprints,
    migrations=Path(__file__).parent / "migrations",
    seed_demo=demo.seed,
    loops=_loops,
)
