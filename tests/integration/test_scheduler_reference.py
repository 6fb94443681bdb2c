"""Practice settings, staff users, practitioners (hours, time off, buffer), clients and
service types over the scheduler's HTTP API, on real PostgreSQL: every change is audited and
published through the outbox with the next revision; a rejected request changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.scheduler.tables import Client
from shared.demo import demo_id
from tests.integration.test_scheduler_support import (
    SchedulerSystem,
    audit_entries,
    outbox_events,
    scheduler_only,
)

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = pytest.mark.clock


@pytest.fixture
def scheduler_system(system_env: dict[str, str]) -> Iterator[SchedulerSystem]:
    with scheduler_only(system_env) as s:
        yield s


def test_practice_settings_are_read_by_staff_and_changed_by_admins(
    scheduler_system: SchedulerSystem,
) -> None:
    shown = scheduler_system.call("scheduler", "GET", "/api/v1/practice")
    assert shown.status_code == 200
    assert shown.json["cancellation_window_hours"] == 24
    settings = {
        "name": "Harbour Street Therapy",
        "time_zone": "America/New_York",
        "currency": "USD",
        "cancellation_window_hours": 48,
        "phone": "(617) 555-0100",
    }
    refused = scheduler_system.call("scheduler", "PUT", "/api/v1/practice", json=settings)
    assert refused.status_code == 403
    assert refused.mimetype == "application/problem+json"
    changed = scheduler_system.call(
        "scheduler", "PUT", "/api/v1/practice", admin=True, json=settings
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["cancellation_window_hours"] == 48
    assert changed.json["phone"] == "+16175550100"
    bad = scheduler_system.call(
        "scheduler", "PUT", "/api/v1/practice", admin=True, json=settings | {"time_zone": "Mars"}
    )
    assert bad.status_code == 422
    assert "time_zone" in bad.json["detail"]
    assert (
        scheduler_system.call("scheduler", "GET", "/api/v1/practice").json[
            "cancellation_window_hours"
        ]
        == 48
    )
    entries = audit_entries(scheduler_system, entity="practice")
    assert [e["action"] for e in entries] == ["practice.updated"]
    assert entries[0]["before"]["cancellation_window_hours"] == 24
    assert entries[0]["after"]["cancellation_window_hours"] == 48


def test_admins_create_list_and_deactivate_staff_users(scheduler_system: SchedulerSystem) -> None:
    new_user = {
        "email": "Reception2@HarbourStreet.example",
        "name": "Second Desk",
        "role": "front_desk",
        "password": "a-long-password",
    }
    assert (
        scheduler_system.call("scheduler", "POST", "/api/v1/staff", json=new_user).status_code
        == 403
    )
    created = scheduler_system.call("scheduler", "POST", "/api/v1/staff", admin=True, json=new_user)
    assert created.status_code == 201, created.json
    assert created.json["email"] == "reception2@harbourstreet.example"
    again = scheduler_system.call("scheduler", "POST", "/api/v1/staff", admin=True, json=new_user)
    assert again.status_code == 409
    practitioner_without_link = new_user | {
        "email": "p@harbourstreet.example",
        "role": "practitioner",
    }
    assert (
        scheduler_system.call(
            "scheduler", "POST", "/api/v1/staff", admin=True, json=practitioner_without_link
        ).status_code
        == 422
    )
    client = scheduler_system.apps["scheduler"].test_client()
    sign_in = {"email": "reception2@harbourstreet.example", "password": "a-long-password"}
    assert client.post("/api/v1/auth/token", json=sign_in).status_code == 200
    listed = scheduler_system.call("scheduler", "GET", "/api/v1/staff", admin=True).json["items"]
    assert "reception2@harbourstreet.example" in [u["email"] for u in listed]
    gone = scheduler_system.call(
        "scheduler", "POST", f"/api/v1/staff/{created.json['id']}/deactivate", admin=True
    )
    assert gone.status_code == 200 and gone.json["active"] is False
    assert client.post("/api/v1/auth/token", json=sign_in).status_code == 401


def test_practitioners_are_created_updated_and_published_with_revisions(
    scheduler_system: SchedulerSystem,
) -> None:
    body = {
        "display_name": "Dr. Lena Fischer",
        "email": "lena@harbourstreet.example",
        "time_zone": "Europe/Berlin",
        "buffer_minutes": 15,
        "location": "Room 5",
    }
    assert (
        scheduler_system.call("scheduler", "POST", "/api/v1/practitioners", json=body).status_code
        == 403
    )
    created = scheduler_system.call(
        "scheduler", "POST", "/api/v1/practitioners", admin=True, json=body
    )
    assert created.status_code == 201, created.json
    pid = created.json["id"]
    bad = scheduler_system.call(
        "scheduler", "PATCH", f"/api/v1/practitioners/{pid}", admin=True, json={"time_zone": "x"}
    )
    assert bad.status_code == 422
    updated = scheduler_system.call(
        "scheduler",
        "PATCH",
        f"/api/v1/practitioners/{pid}",
        admin=True,
        json={"time_zone": "Europe/Lisbon", "buffer_minutes": 5},
    )
    assert updated.status_code == 200, updated.json
    assert (updated.json["revision"], updated.json["time_zone"]) == (2, "Europe/Lisbon")
    assert updated.json["display_name"] == "Dr. Lena Fischer"
    registered = [
        e
        for e in outbox_events(scheduler_system, "practitioner.registered")
        if e["practitioner_id"] == pid
    ]
    assert [(e["revision"], e["time_zone"]) for e in registered] == [(1, "Europe/Berlin")]
    assert [
        (e["revision"], e["time_zone"])
        for e in outbox_events(scheduler_system, "practitioner.updated")
    ] == [(2, "Europe/Lisbon")]
    actions = [
        e["action"] for e in audit_entries(scheduler_system, entity="practitioner", entity_id=pid)
    ]
    assert actions == ["practitioner.updated", "practitioner.registered"]


def test_weekly_hours_and_time_off(scheduler_system: SchedulerSystem) -> None:
    pid = demo_id("dr-rivera")
    hours = {
        "periods": [
            {"weekday": "monday", "start": "09:00", "end": "12:00"},
            {"weekday": "monday", "start": "13:00", "end": "17:30"},
            {"weekday": "thursday", "start": "14:00", "end": "20:00"},
        ]
    }
    # The front desk may read but not change a practitioner's schedule.
    path = f"/api/v1/practitioners/{pid}/working-hours"
    assert scheduler_system.call("scheduler", "PUT", path, json=hours).status_code == 403
    saved = scheduler_system.call("scheduler", "PUT", path, admin=True, json=hours)
    assert saved.status_code == 200, saved.json
    assert scheduler_system.call("scheduler", "GET", path).json == {
        "time_zone": "America/New_York",
        "periods": hours["periods"],
    }
    overlapping = {
        "periods": [*hours["periods"], {"weekday": "monday", "start": "11:00", "end": "14:00"}]
    }
    refused = scheduler_system.call("scheduler", "PUT", path, admin=True, json=overlapping)
    assert refused.status_code == 422
    assert "overlap" in refused.json["detail"]
    assert scheduler_system.call("scheduler", "GET", path).json["periods"] == hours["periods"]

    off = scheduler_system.call(
        "scheduler",
        "POST",
        f"/api/v1/practitioners/{pid}/time-off",
        admin=True,
        json={
            "starts_at": "2030-07-01T00:00:00-04:00",
            "ends_at": "2030-07-08T00:00:00-04:00",
            "reason": "Holiday",
        },
    )
    assert off.status_code == 201, off.json
    listed = scheduler_system.call(
        "scheduler", "GET", f"/api/v1/practitioners/{pid}/time-off"
    ).json["items"]
    assert [(t["kind"], t["starts_at"]) for t in listed] == [
        ("time_off", "2030-07-01T04:00:00+00:00")
    ]
    backwards = scheduler_system.call(
        "scheduler",
        "POST",
        f"/api/v1/practitioners/{pid}/time-off",
        admin=True,
        json={"starts_at": "2030-07-08T00:00:00Z", "ends_at": "2030-07-01T00:00:00Z"},
    )
    assert backwards.status_code == 422
    removed = scheduler_system.call(
        "scheduler", "DELETE", f"/api/v1/practitioners/{pid}/time-off/{off.json['id']}", admin=True
    )
    assert removed.status_code == 204
    assert (
        scheduler_system.call("scheduler", "GET", f"/api/v1/practitioners/{pid}/time-off").json[
            "items"
        ]
        == []
    )


def test_a_client_update_is_validated_and_published_with_the_next_revision(
    scheduler_system: SchedulerSystem,
) -> None:
    cid = demo_id("client-jordan")
    bad = scheduler_system.call(
        "scheduler", "PATCH", f"/api/v1/clients/{cid}", json={"phone": "12"}
    )
    assert bad.status_code == 422
    assert "phone" in bad.json["detail"]
    no_contact = scheduler_system.call(
        "scheduler", "PATCH", f"/api/v1/clients/{cid}", json={"phone": None}
    )  # Jordan consented to SMS: the number cannot simply go
    assert no_contact.status_code == 422
    unknown = scheduler_system.call(
        "scheduler", "PATCH", f"/api/v1/clients/{cid}", json={"revision": 9}
    )
    assert unknown.status_code == 422
    assert scheduler_system.rows("scheduler", Client, Client.id == cid)[0].revision == 1
    changed = scheduler_system.call(
        "scheduler",
        "PATCH",
        f"/api/v1/clients/{cid}",
        json={"phone": "617 555 0199", "time_zone": "America/Los_Angeles"},
    )
    assert changed.status_code == 200, changed.json
    assert (changed.json["phone"], changed.json["revision"]) == ("+16175550199", 2)
    published = outbox_events(scheduler_system, "client.updated")
    assert [(e["client_id"], e["revision"], e["phone"]) for e in published] == [
        (cid, 2, "+16175550199")
    ]
    entry = audit_entries(scheduler_system, entity="client", entity_id=cid)[0]
    assert (entry["before"]["phone"], entry["after"]["phone"]) == ("+16175550123", "+16175550199")


def test_service_types_are_defined_and_updated_by_admins(scheduler_system: SchedulerSystem) -> None:
    body = {"name": "IPT session (60 min)", "duration_minutes": 60, "cpt_code": "90837"}
    assert (
        scheduler_system.call("scheduler", "POST", "/api/v1/service-types", json=body).status_code
        == 403
    )
    created = scheduler_system.call(
        "scheduler", "POST", "/api/v1/service-types", admin=True, json=body
    )
    assert created.status_code == 201, created.json
    assert created.json["duration"] == "PT1H"
    sid = created.json["id"]
    bad = scheduler_system.call(
        "scheduler", "PATCH", f"/api/v1/service-types/{sid}", admin=True, json={"cpt_code": "x"}
    )
    assert bad.status_code == 422
    updated = scheduler_system.call(
        "scheduler",
        "PATCH",
        f"/api/v1/service-types/{sid}",
        admin=True,
        json={"billable": False, "active": False},
    )
    assert updated.status_code == 200
    assert (updated.json["revision"], updated.json["billable"], updated.json["active"]) == (
        2,
        False,
        False,
    )
    defined = [
        e
        for e in outbox_events(scheduler_system, "service_type.defined")
        if e["service_type_id"] == sid
    ]
    assert [(e["revision"], e["duration"]) for e in defined] == [(1, "PT1H")]
    assert [
        (e["revision"], e["active"])
        for e in outbox_events(scheduler_system, "service_type.updated")
    ] == [(2, False)]
    # An inactive service type cannot be booked.
    booking = scheduler_system.book(service_type="ipt-session")
    assert booking.status_code == 201
    refused = scheduler_system.call(
        "scheduler",
        "POST",
        "/api/v1/appointments",
        json={
            "client_id": demo_id("client-priya"),
            "practitioner_id": demo_id("sam-okafor"),
            "service_type_id": sid,
            "starts_at": "2031-01-06T15:00:00Z",
        },
    )
    assert refused.status_code == 422


def test_the_audit_log_is_for_admins_only(scheduler_system: SchedulerSystem) -> None:
    assert scheduler_system.call("scheduler", "GET", "/api/v1/audit").status_code == 403
    booked = scheduler_system.book()
    assert booked.status_code == 201
    entries = audit_entries(scheduler_system, entity="appointment", entity_id=booked.json["id"])
    assert [(e["action"], e["actor_role"]) for e in entries] == [
        ("appointment.booked", "front_desk")
    ]


def test_a_practitioner_manages_only_their_own_schedule(
    scheduler_system: SchedulerSystem,
) -> None:
    own, other = demo_id("dr-rivera"), demo_id("sam-okafor")
    created = scheduler_system.call(
        "scheduler",
        "POST",
        "/api/v1/staff",
        admin=True,
        json={
            "email": "ana@harbourstreet.example",
            "name": "Ana Rivera",
            "role": "practitioner",
            "password": "ana-password-1",
            "practitioner_id": own,
        },
    )
    assert created.status_code == 201, created.json
    client = scheduler_system.apps["scheduler"].test_client()
    token = client.post(
        "/api/v1/auth/token",
        json={"email": "ana@harbourstreet.example", "password": "ana-password-1"},
    ).json["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    hours = {"periods": [{"weekday": "friday", "start": "08:00", "end": "12:00"}]}
    mine = client.put(f"/api/v1/practitioners/{own}/working-hours", json=hours, headers=auth)
    assert mine.status_code == 200
    theirs = client.put(f"/api/v1/practitioners/{other}/working-hours", json=hours, headers=auth)
    assert theirs.status_code == 403
    buffer = client.patch(f"/api/v1/practitioners/{own}", json={"buffer_minutes": 20}, headers=auth)
    assert buffer.status_code == 200 and buffer.json["buffer_minutes"] == 20
    leave = client.patch(f"/api/v1/practitioners/{own}", json={"active": False}, headers=auth)
    assert leave.status_code == 403
    assert client.get(f"/api/v1/practitioners/{own}/feed", headers=auth).status_code == 200
    assert client.get(f"/api/v1/practitioners/{other}/feed", headers=auth).status_code == 403


def test_a_client_locale_is_validated_normalised_and_published(
    scheduler_system: SchedulerSystem,
) -> None:
    cid = demo_id("client-jordan")
    assert scheduler_system.call("scheduler", "GET", f"/api/v1/clients/{cid}").json["locale"] == (
        "en_US"
    )
    bad = scheduler_system.call(
        "scheduler", "PATCH", f"/api/v1/clients/{cid}", json={"locale": "klingon"}
    )
    assert bad.status_code == 422
    assert bad.headers["Content-Type"].startswith("application/problem+json")
    assert "locale" in bad.json["detail"] and "such as en_US" in bad.json["detail"]
    assert scheduler_system.rows("scheduler", Client, Client.id == cid)[0].locale == "en_US"
    assert outbox_events(scheduler_system, "client.updated") == []

    changed = scheduler_system.call(
        "scheduler", "PATCH", f"/api/v1/clients/{cid}", json={"locale": "es-us"}
    )
    assert changed.status_code == 200, changed.json
    assert (changed.json["locale"], changed.json["revision"]) == ("es_US", 2)
    published = outbox_events(scheduler_system, "client.updated")
    assert [(e["client_id"], e["revision"], e["locale"]) for e in published] == [(cid, 2, "es_US")]

    created = scheduler_system.call(
        "scheduler",
        "POST",
        "/api/v1/clients",
        json={
            "first_name": "Zofia",
            "last_name": "Nowak",
            "email": "zofia@example.com",
            "time_zone": "Europe/Warsaw",
            "locale": "pl_PL",
        },
    )
    assert created.status_code == 201, created.json
    registered = outbox_events(scheduler_system, "client.registered")
    assert [(e["first_name"], e["locale"]) for e in registered if e["first_name"] == "Zofia"] == [
        ("Zofia", "pl_PL")
    ]


def _many_clients(system: SchedulerSystem, count: int) -> None:
    rt = system.runtimes["scheduler"]
    with rt.db.transaction() as session:
        session.add_all(
            Client(
                id=f"00000000-0000-4000-8000-{n:012d}",
                first_name="Paged",
                last_name=f"Zuckerman {n:04d}",
                email=f"paged{n}@example.com",
                phone=f"+1617555{n:04d}",
                time_zone="America/New_York",
                created_at=rt.clock.now(),
            )
            for n in range(count)
        )


def test_clients_are_listed_and_searched_a_page_at_a_time(
    scheduler_system: SchedulerSystem,
) -> None:
    _many_clients(scheduler_system, 230)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "/api/v1/clients?q=zuckerman&limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = scheduler_system.call("scheduler", "GET", query)
        assert page.status_code == 200, page.json
        pages += 1
        seen += [c["last_name"] for c in page.json["items"]]
        assert page.json["has_more"] is (page.json["next_cursor"] is not None)
        cursor = page.json["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert seen == [f"Zuckerman {n:04d}" for n in range(230)]  # in order, none twice
    # By every word of the name, by email, by the phone's digits however they are typed.
    for q, expected in (("paged zuckerman 0042", 1), ("paged42@", 1), ("(617) 555-0042", 1)):
        found = scheduler_system.call("scheduler", "GET", f"/api/v1/clients?q={q}")
        assert [c["email"] for c in found.json["items"]] == ["paged42@example.com"] * expected, q
    jordan = demo_id("client-jordan")
    named = scheduler_system.call(
        "scheduler", "GET", f"/api/v1/clients?ids={jordan},00000000-0000-4000-8000-000000000007"
    )
    assert [c["first_name"] for c in named.json["items"]] == ["Jordan", "Paged"]
    for bad in ("cursor=not-a-cursor", "limit=0", "limit=501"):
        refused = scheduler_system.call("scheduler", "GET", f"/api/v1/clients?{bad}")
        assert refused.status_code == 400, bad
        assert refused.mimetype == "application/problem+json"


def test_global_search_finds_clients_with_their_next_sessions(
    scheduler_system: SchedulerSystem,
) -> None:
    _many_clients(scheduler_system, 30)
    first = scheduler_system.call("scheduler", "GET", "/api/v1/search?q=zuckerman")
    assert first.status_code == 200
    assert len(first.json["items"]) == 20 and first.json["has_more"] is True
    rest = scheduler_system.call(
        "scheduler", "GET", f"/api/v1/search?q=zuckerman&cursor={first.json['next_cursor']}"
    )
    assert len(rest.json["items"]) == 10 and rest.json["next_cursor"] is None
    assert all(c["upcoming_sessions"] == [] for c in rest.json["items"])
    empty = scheduler_system.call("scheduler", "GET", "/api/v1/search?q=")
    assert empty.status_code == 400
    assert empty.mimetype == "application/problem+json"


def test_appointments_are_listed_a_page_at_a_time_and_say_when_there_is_more(
    scheduler_system: SchedulerSystem,
) -> None:
    booked = [scheduler_system.book().json["id"] for _ in range(5)]
    seen: list[str] = []
    query = "/api/v1/appointments?limit=2"
    while query:
        page = scheduler_system.call("scheduler", "GET", query)
        assert page.status_code == 200, page.json
        seen += [a["id"] for a in page.json["items"]]
        cursor = page.json["next_cursor"]
        query = f"/api/v1/appointments?limit=2&cursor={cursor}" if cursor else ""
    assert seen == booked
    whole = scheduler_system.call("scheduler", "GET", "/api/v1/appointments")
    assert [a["id"] for a in whole.json["items"]] == booked
    assert whole.json["has_more"] is False
