"""Every list of the three services' APIs comes a page at a time: ``limit`` and ``cursor`` in,
``items``, ``next_cursor`` and ``has_more`` out; walking the pages gives each row once, in the
list's order; a bad limit or cursor is a problem+json and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from services.billing.tables import Invoice, Payment
from services.notifier.tables import InboundMessage, Message
from shared.demo import demo_id
from tests.integration.conftest import System
from tests.support import now, wait_until

pytestmark = pytest.mark.integration
CLIENT = demo_id("client-jordan")
ROWS = 7


def _messages(system: System) -> None:
    at = now()
    with system.runtimes["notifier"].db.transaction() as session:
        for n in range(ROWS):
            # Pairs share a moment: the id keeps the order whole across a page boundary.
            when = at - timedelta(minutes=n // 2)
            session.add(
                Message(
                    id=f"00000000-0000-4000-8000-{n:012d}",
                    client_id=CLIENT,
                    channel="sms",
                    kind="reminder",
                    recipient="+16175550100",
                    provider="sandbox",
                    status="sent",
                    created_at=when,
                    updated_at=when,
                )
            )
            session.add(
                InboundMessage(
                    id=f"00000000-0000-4000-8100-{n:012d}",
                    provider_id=f"SM{n:032d}",
                    from_phone="+16175550100",
                    client_id=CLIENT,
                    body="Can we move Thursday?",
                    intent="other",
                    needs_desk=True,
                    received_at=when,
                )
            )


def _money(system: System) -> None:
    at = now()
    with system.runtimes["billing"].db.transaction() as session:
        for n in range(ROWS):
            when = at - timedelta(minutes=n // 2)
            invoice_id = f"00000000-0000-4000-8200-{n:012d}"
            session.add(
                Invoice(
                    id=invoice_id,
                    number=f"2026-9{n:04d}",
                    client_id=CLIENT,
                    status="partly_paid",
                    currency="USD",
                    total_minor=10_000,
                    paid_minor=1_000,
                    created_at=when,
                    issued_at=when,
                )
            )
            session.flush()
            session.add(
                Payment(
                    id=f"00000000-0000-4000-8300-{n:012d}",
                    invoice_id=invoice_id,
                    client_id=CLIENT,
                    kind="payment",
                    amount_minor=1_000,
                    currency="USD",
                    method="cash",
                    recorded_at=when,
                    recorded_by="desk",
                )
            )


def _practitioners(system: System) -> None:
    for n in range(ROWS):
        body = {"display_name": f"Dr. Paged {n % 3}", "time_zone": "America/New_York"}
        added = system.call("scheduler", "POST", "/api/v1/practitioners", admin=True, json=body)
        assert added.status_code == 201, added.json


def _staff(system: System) -> None:
    for n in range(ROWS):
        body = {
            "email": f"paged{n}@harbourstreet.example",
            "name": f"Paged Desk {n % 3}",
            "role": "front_desk",
            "password": "a-long-enough-password",
        }
        added = system.call("scheduler", "POST", "/api/v1/staff", admin=True, json=body)
        assert added.status_code == 201, added.json


LISTS: list[tuple[str, str, str, bool, Callable[[System], None] | None, str, bool]] = [
    # (id, service, path, admin, rows to add, sort field, newest first)
    (
        "practitioners",
        "scheduler",
        "/api/v1/practitioners?",
        False,
        _practitioners,
        "display_name",
        False,
    ),
    ("service-types", "scheduler", "/api/v1/service-types?", False, None, "name", False),
    ("staff", "scheduler", "/api/v1/staff?", True, _staff, "name", False),
    (
        "messages",
        "notifier",
        f"/api/v1/messages?client_id={CLIENT}&",
        False,
        _messages,
        "created_at",
        False,
    ),
    ("inbox", "notifier", "/api/v1/inbox?", False, _messages, "received_at", True),
    (
        "invoices",
        "billing",
        f"/api/v1/invoices?client_id={CLIENT}&",
        False,
        _money,
        "issued_at",
        False,
    ),
    (
        "payments",
        "billing",
        f"/api/v1/payments?client_id={CLIENT}&",
        False,
        _money,
        "recorded_at",
        False,
    ),
]


@pytest.mark.parametrize(
    ("service", "path", "admin", "add", "field", "newest_first"),
    [pytest.param(*entry[1:], id=entry[0]) for entry in LISTS],
)
def test_a_list_comes_a_page_at_a_time_and_says_when_there_is_more(
    system: System,
    service: str,
    path: str,
    admin: bool,
    add: Callable[[System], None] | None,
    field: str,
    newest_first: bool,
) -> None:
    if add is not None:
        add(system)

    def get(query: str) -> Any:
        return system.call(service, "GET", path + query, admin=admin)

    whole = get("limit=500")
    assert whole.status_code == 200, whole.json
    everything = whole.json["items"]
    assert whole.json["has_more"] is False and whole.json["next_cursor"] is None
    assert len(everything) >= 3, "too few rows to page through"
    keys = [(row[field], row["id"]) for row in everything]
    assert keys == sorted(keys, reverse=newest_first)

    limit = len(everything) // 3
    seen: list[dict[str, Any]] = []
    first = get(f"limit={limit}")
    assert first.status_code == 200
    assert len(first.json["items"]) == limit
    assert first.json["has_more"] is True and first.json["next_cursor"]
    seen += first.json["items"]
    cursor = first.json["next_cursor"]
    pages = 1
    while cursor:
        page = get(f"limit={limit}&cursor={cursor}")
        assert page.status_code == 200, page.json
        pages += 1
        seen += page.json["items"]
        assert page.json["has_more"] is (page.json["next_cursor"] is not None)
        cursor = page.json["next_cursor"]
    assert pages == -(-len(everything) // limit)
    assert seen == everything  # each row once, in the list's order

    for bad in ("limit=0", "limit=501", "limit=many", "cursor=not-a-cursor"):
        refused = get(bad)
        assert refused.status_code == 400, bad
        assert refused.mimetype == "application/problem+json", bad


def test_reminders_come_a_page_at_a_time_in_the_order_they_fall_due(system: System) -> None:
    system.start()
    system.wait_for_projections()
    for _ in range(3):
        assert system.book().status_code == 201

    def get(query: str) -> Any:
        return system.call("notifier", "GET", f"/api/v1/reminders?client_id={CLIENT}&{query}")

    def ids() -> list[str]:
        return [r["id"] for r in get("limit=500").json["items"]]

    # Planning is done once the list holds reminders for all three and stops changing.
    last: list[list[str]] = [[]]

    def settled() -> bool:
        current = ids()
        done = len(current) >= 6 and current == last[0]
        last[0] = current
        return done

    wait_until(settled, interval=0.5, message="the bookings' reminders")
    whole = get("limit=500")
    everything = [r["id"] for r in whole.json["items"]]
    assert whole.json["has_more"] is False
    keys = [(r["due_at"], r["channel"], r["id"]) for r in whole.json["items"]]
    assert keys == sorted(keys)
    seen: list[str] = []
    cursor = ""
    while True:
        page = get(f"limit=2&cursor={cursor}" if cursor else "limit=2")
        assert page.status_code == 200, page.json
        seen += [r["id"] for r in page.json["items"]]
        if not page.json["has_more"]:
            break
        cursor = page.json["next_cursor"]
    assert seen == everything
    assert get("cursor=not-a-cursor").status_code == 400
