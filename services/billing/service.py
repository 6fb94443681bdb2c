"""Billing as the shared machinery sees it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.billing import demo, metrics
from services.billing.handlers import HANDLERS
from services.billing.tables import EVENTS, Base
from shared.service import ServiceDefinition

_watching = False


def _blueprints() -> list:
    from services.billing import openapi  # noqa: F401  (its view joins the api blueprint)
    from services.billing.api import api
    from services.billing.api_invoices import money

    global _watching
    if not _watching:
        # Each app that registers billing's API lets /metrics read that app's database.
        api.record(lambda state: _watch(state.app.extensions["rapport"]))
        _watching = True
    return [api, money]


def _watch(rt: Any) -> None:
    metrics.STATE.watch(rt.db.sessions)


def _loops(rt: Any) -> list:
    from services.billing.issuing import InvoiceIssuer

    # The worker has no blueprints; its /metrics should show invoices by state too.
    _watch(rt)
    return [InvoiceIssuer(rt).run]


SERVICE = ServiceDefinition(
    name="billing",
    metadata=Base.metadata,
    tables=EVENTS,
    handlers=HANDLERS,
    blueprints=_blueprints,
    migrations=Path(__file__).parent / "migrations",
    loops=_loops,
    seed_demo=demo.seed,
)
