"""Practitioner least privilege across the three services, on real RabbitMQ and PostgreSQL with
real sign-ins: a practitioner reads and changes only their own clients and sessions (another's
answer 404 as if they did not exist), until the practice lets practitioners see every client;
admins and the front desk see everything either way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from services.billing.tables import BilledAppointment
from services.notifier.tables import AppointmentView, ClientContact
from shared.auth import SESSION_COOKIE
from shared.demo import demo_id
from tests.integration.conftest import System
from tests.support import wait_until

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock
RIVERA, OKAFOR = demo_id("dr-rivera"), demo_id("sam-okafor")
JORDAN, PRIYA, MAREK = demo_id("client-jordan"), demo_id("client-priya"), demo_id("client-marek")


class Practice:
    def __init__(self, system: System) -> None:
        self.system = system
        self.tokens = {"rivera": self.sign_in("rivera", RIVERA)}

    def sign_in(self, who: str, practitioner_id: str | None = None) -> str:
        if practitioner_id is not None:
            created = self.system.call(
                "scheduler",
                "POST",
                "/api/v1/staff",
                admin=True,
                json={
                    "email": f"{who}@harbourstreet.example",
                    "name": who,
                    "role": "practitioner",
                    "password": f"{who}-password-1",
                    "practitioner_id": practitioner_id,
                },
            )
            assert created.status_code == 201, created.json
        signed = (
            self.system.apps["scheduler"]
            .test_client()
            .post(
                "/api/v1/auth/token",
                json={"email": f"{who}@harbourstreet.example", "password": f"{who}-password-1"},
            )
        )
        assert signed.status_code == 200, signed.json
        return str(signed.json["access_token"])

    def as_rivera(self, service: str, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens['rivera']}"}
        client = self.system.apps[service].test_client()
        return client.open(path, method=method, headers=headers, **kw)

    def see_all(self, on: bool) -> None:
        current = self.system.call("scheduler", "GET", "/api/v1/practice").json
        body = {k: v for k, v in current.items() if k != "revision"}
        changed = self.system.call(
            "scheduler",
            "PUT",
            "/api/v1/practice",
            admin=True,
            json=body | {"practitioners_see_all": on},
        )
        assert changed.status_code == 200, changed.json
        assert changed.json["practitioners_see_all"] is on


@pytest.fixture
def practice(system: System) -> Iterator[Practice]:
    system.start()
    yield Practice(system)


def _booked(system: System, client: str, practitioner: str) -> str:
    response = system.book(client=client, practitioner=practitioner)
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def _hidden(response: Any) -> None:
    assert response.status_code == 404, response.json
    assert response.mimetype == "application/problem+json"


def _client_ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.json
    return {c["id"] for c in response.json["items"]}


def test_a_practitioner_sees_and_changes_only_their_own_clients_and_sessions(
    practice: Practice,
) -> None:
    system = practice.system
    own = _booked(system, "client-jordan", "dr-rivera")
    other = _booked(system, "client-priya", "sam-okafor")
    rivera = practice.as_rivera

    assert _client_ids(rivera("scheduler", "GET", "/api/v1/clients")) == {JORDAN}
    assert rivera("scheduler", "GET", f"/api/v1/clients/{JORDAN}").status_code == 200
    _hidden(rivera("scheduler", "GET", f"/api/v1/clients/{PRIYA}"))
    _hidden(rivera("scheduler", "GET", f"/api/v1/clients/{MAREK}"))  # no session with anyone
    _hidden(rivera("scheduler", "PATCH", f"/api/v1/clients/{PRIYA}", json={"first_name": "X"}))
    assert _client_ids(rivera("scheduler", "GET", "/api/v1/search", query_string={"q": "a"})) == {
        JORDAN
    }

    listed = rivera("scheduler", "GET", "/api/v1/appointments").json["items"]
    assert {a["id"] for a in listed} == {own}
    _hidden(rivera("scheduler", "GET", f"/api/v1/appointments/{other}"))
    for action in ("confirm", "cancel", "reschedule", "no-show"):
        body = {"cancelled_by": "practice", "reason": "ill", "starts_at": system.base.isoformat()}
        _hidden(rivera("scheduler", "POST", f"/api/v1/appointments/{other}/{action}", json=body))
    _hidden(rivera("scheduler", "PATCH", f"/api/v1/appointments/{other}", json={"location": "x"}))
    assert system.call("scheduler", "GET", f"/api/v1/appointments/{other}").json["status"] == (
        "booked"
    )

    starts = (system.base + timedelta(hours=1)).isoformat()
    into_own = {"practitioner_id": RIVERA, "service_type_id": demo_id("ipt-session")}
    unknown = rivera(
        "scheduler",
        "POST",
        "/api/v1/appointments",
        json=into_own | {"client_id": PRIYA, "starts_at": starts},
    )
    assert unknown.status_code == 422
    assert "client_id" in unknown.json["detail"]
    elsewhere = rivera(
        "scheduler",
        "POST",
        "/api/v1/appointments",
        json=into_own | {"client_id": JORDAN, "practitioner_id": OKAFOR, "starts_at": starts},
    )
    assert elsewhere.status_code == 403

    new = rivera(
        "scheduler",
        "POST",
        "/api/v1/clients",
        json={"first_name": "Ada", "last_name": "Byrne", "time_zone": "America/New_York"},
    )
    assert new.status_code == 201, new.json
    assert new.json["assigned_practitioner_id"] == RIVERA
    assert rivera("scheduler", "GET", f"/api/v1/clients/{new.json['id']}").status_code == 200
    handed = rivera(
        "scheduler",
        "PATCH",
        f"/api/v1/clients/{new.json['id']}",
        json={"assigned_practitioner_id": OKAFOR},
    )
    assert handed.status_code == 403

    free = {
        "practitioner_id": RIVERA,
        "service_type_id": demo_id("ipt-session"),
        "from": system.base.date().isoformat(),
        "to": system.base.date().isoformat(),
    }
    assert rivera("scheduler", "GET", "/api/v1/availability", query_string=free).status_code == 200
    _hidden(
        rivera("scheduler", "GET", "/api/v1/availability", query_string=free | {"client_id": PRIYA})
    )

    # The waiting list and a session's self-service link follow the same rule.
    _hidden(rivera("scheduler", "GET", f"/api/v1/appointments/{other}/self-service-link"))
    _hidden(rivera("scheduler", "POST", f"/api/v1/appointments/{other}/self-service-link/revoke"))
    assert (
        rivera("scheduler", "GET", f"/api/v1/appointments/{own}/self-service-link").status_code
        == 200
    )
    day = system.base.date()
    entry = {
        "service_type_id": demo_id("ipt-session"),
        "windows": [{"weekday": day.weekday(), "start": "08:00", "end": "18:00"}],
        "earliest_date": day.isoformat(),
        "latest_date": (day + timedelta(days=28)).isoformat(),
    }
    waiting = system.call(
        "scheduler", "POST", "/api/v1/waitlist", admin=True, json=entry | {"client_id": PRIYA}
    )
    assert waiting.status_code == 201, waiting.json
    refused = rivera("scheduler", "POST", "/api/v1/waitlist", json=entry | {"client_id": PRIYA})
    assert refused.status_code == 422 and "client_id" in refused.json["detail"]
    assert rivera("scheduler", "GET", "/api/v1/waitlist").json["items"] == []
    _hidden(rivera("scheduler", "GET", f"/api/v1/waitlist/{waiting.json['id']}"))
    _hidden(rivera("scheduler", "POST", f"/api/v1/waitlist/{waiting.json['id']}/remove"))

    ui = system.apps["scheduler"].test_client()
    ui.set_cookie(SESSION_COOKIE, practice.tokens["rivera"])
    assert ui.get(f"/clients/{JORDAN}").status_code == 200
    assert ui.get(f"/clients/{PRIYA}").status_code == 404

    # The notifier and billing, once they have heard of both bookings.
    wait_until(lambda: system.count("notifier", AppointmentView) == 2, message="notifier")
    wait_until(lambda: system.count("billing", BilledAppointment) == 2, message="billing")
    for client, expected in ((JORDAN, 200), (PRIYA, 404)):
        got = rivera("billing", "GET", f"/api/v1/balances/{client}")
        assert got.status_code == expected, got.json
    wait_until(
        lambda: system.call(
            "notifier", "GET", "/api/v1/reminders", query_string={"client_id": PRIYA}
        ).json["items"],
        message="reminders",
    )
    reminders = rivera("notifier", "GET", "/api/v1/reminders", query_string={"client_id": PRIYA})
    assert reminders.json["items"] == []
    messages = rivera("notifier", "GET", "/api/v1/messages", query_string={"client_id": PRIYA})
    assert messages.json["items"] == []
    mine = rivera("notifier", "GET", "/api/v1/reminders", query_string={"client_id": JORDAN})
    assert mine.json["items"] and {r["appointment_id"] for r in mine.json["items"]} == {own}
    phones = {c.client_id: c.phone for c in system.rows("notifier", ClientContact)}
    reply = {"from": phones[PRIYA], "body": "C"}
    _hidden(rivera("notifier", "POST", "/api/v1/sandbox/replies", json=reply))
    reply = {"from": phones[JORDAN], "body": "C"}
    assert rivera("notifier", "POST", "/api/v1/sandbox/replies", json=reply).status_code == 201


def test_with_the_practice_setting_on_a_practitioner_sees_every_client(
    practice: Practice,
) -> None:
    system = practice.system
    other = _booked(system, "client-priya", "sam-okafor")
    practice.see_all(True)
    rivera = practice.as_rivera

    # The scheduler reads the setting as it is now.
    assert _client_ids(rivera("scheduler", "GET", "/api/v1/clients")) == {JORDAN, PRIYA, MAREK}
    assert rivera("scheduler", "GET", f"/api/v1/appointments/{other}").status_code == 200
    confirmed = rivera("scheduler", "POST", f"/api/v1/appointments/{other}/confirm")
    assert confirmed.status_code == 200, confirmed.json

    # The notifier and billing read it from the token: sign in again.
    practice.tokens["rivera"] = practice.sign_in("rivera")
    wait_until(lambda: system.count("notifier", AppointmentView) == 1, message="notifier")
    wait_until(lambda: system.count("billing", BilledAppointment) == 1, message="billing")
    assert rivera("billing", "GET", f"/api/v1/balances/{PRIYA}").status_code == 200
    wait_until(
        lambda: rivera(
            "notifier", "GET", "/api/v1/reminders", query_string={"client_id": PRIYA}
        ).json["items"],
        message="reminders",
    )

    practice.see_all(False)
    _hidden(rivera("scheduler", "GET", f"/api/v1/appointments/{other}"))


def test_admins_and_the_front_desk_keep_seeing_everything(practice: Practice) -> None:
    system = practice.system
    other = _booked(system, "client-priya", "sam-okafor")
    for admin in (False, True):
        clients = system.call("scheduler", "GET", "/api/v1/clients", admin=admin)
        assert _client_ids(clients) == {JORDAN, PRIYA, MAREK}
        found = system.call("scheduler", "GET", f"/api/v1/appointments/{other}", admin=admin)
        assert found.status_code == 200
    wait_until(lambda: system.count("billing", BilledAppointment) == 1, message="billing")
    for admin in (False, True):
        got = system.call("billing", "GET", f"/api/v1/balances/{PRIYA}", admin=admin)
        assert got.status_code == 200, got.json
