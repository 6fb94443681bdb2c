"""The notifier as the shared machinery sees it."""

from __future__ import annotations

from pathlib import Path

from services.notifier import offers
from services.notifier.handlers import HANDLERS
from services.notifier.tables import EVENTS, Base
from shared.service import Loop, Runtime, ServiceDefinition


def _blueprints() -> list:
    from services.notifier import openapi  # noqa: F401  (its view joins the api blueprint)
    from services.notifier.api import api
    from services.notifier.check_in_api import check_in_api
    from services.notifier.webhooks import webhooks

    return [api, check_in_api, webhooks]


def _loops(rt: Runtime) -> list[Loop]:
    from services.notifier import metrics
    from services.notifier.check_in_sender import CheckInSender
    from services.notifier.dispatcher import ReminderDispatcher, due_backlog

    metrics.DUE_BACKLOG.set_source(lambda: due_backlog(rt))
    dispatcher = ReminderDispatcher(rt)
    return [dispatcher.run, offers.OfferSender(rt, dispatcher).run, CheckInSender(rt).run]


SERVICE = ServiceDefinition(
    name="notifier",
    metadata=Base.metadata,
    tables=EVENTS,
    handlers={**HANDLERS, **offers.HANDLERS},
    blueprints=_blueprints,
    migrations=Path(__file__).parent / "migrations",
    loops=_loops,
)
