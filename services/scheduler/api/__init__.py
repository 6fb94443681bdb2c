"""The scheduler's HTTP API, one module per area; each registers its views on ``api``."""

from __future__ import annotations

from services.scheduler.api import (  # noqa: F401 - importing registers the views
    appointments,
    audit,
    availability,
    check_ins,
    feed_links,
    lifecycle,
    openapi,
    people,
    practice,
    search,
    self_service_links,
    sign_in,
    waitlist,
)
from services.scheduler.api.common import api, appointment_json, client_json

__all__ = ["api", "appointment_json", "client_json"]
