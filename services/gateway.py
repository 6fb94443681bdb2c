"""Which service owns which public path: the table behind the nginx gateway and the embedded
router. deploy/gateway/nginx.conf must route the same prefixes (a test checks it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

ROUTES: tuple[tuple[str, str], ...] = (
    ("/api/v1/reminders", "notifier"),
    ("/api/v1/reminder-policy", "notifier"),
    ("/api/v1/messages", "notifier"),
    ("/api/v1/inbox", "notifier"),
    ("/api/v1/sandbox", "notifier"),
    ("/api/v1/notifier", "notifier"),
    ("/api/v1/check-ins", "notifier"),
    ("/api/v1/practitioner-inbox", "notifier"),
    ("/webhooks/twilio", "notifier"),
    ("/api/v1/invoices", "billing"),
    ("/api/v1/payments", "billing"),
    ("/api/v1/fee-schedule", "billing"),
    ("/api/v1/billing", "billing"),
    ("/api/v1/balances", "billing"),
    ("/api/v1/superbills", "billing"),
    ("/", "scheduler"),
)


def owner_of(path: str, routes: Iterable[tuple[str, str]] = ROUTES) -> str:
    """The service that serves ``path``: the longest matching prefix wins, as in nginx."""
    best = ("", "scheduler")
    for prefix, service in routes:
        matches = path == prefix or path.startswith(prefix.rstrip("/") + "/") or prefix == "/"
        if matches and len(prefix) > len(best[0]):
            best = (prefix, service)
    return best[1]


class PathRouter:
    """A WSGI app that sends each request to the service owning its path (embedded mode)."""

    def __init__(self, apps: Mapping[str, Callable[..., Any]]) -> None:
        self.apps = dict(apps)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self.apps[owner_of(environ.get("PATH_INFO", "/"))](environ, start_response)
