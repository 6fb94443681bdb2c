"""The waiting list through the real services on PostgreSQL and RabbitMQ: a cancelled session
is offered to the waiting client it suits (not to one whose window it misses), the message goes
out by the notifier, a Y books it through the desk's booking path; two clients accepting at once
give one booking and one "taken"; an unanswered offer expires and moves on; a desk booking
withdraws an offer; bad entries change nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.notifier.tables import OfferNotice, OfferView, SandboxMessage
from services.scheduler.tables import Appointment, WaitlistEntry, WaitlistOffer
from shared.clock import FrozenClock
from shared.demo import demo_id
from tests.integration.conftest import System
from tests.support import (
    fresh_databases,
    fresh_vhost,
    local,
    service_env,
    today,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.clock]

PHONES = {"client-jordan": "+16175550123", "client-priya": "+13125550188"}


def session_day() -> date:
    """A weekday at least three days ahead in New York, when Dr. Rivera works 9 to 5."""
    day = today() + timedelta(days=3)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


DAY = session_day()
SLOT = local(DAY, 10)  # 10:00 in New York: 9:00 in Chicago, 16:00 in Warsaw
NOON = local(today() + timedelta(days=1), 12)  # the frozen "now": daytime for every client


@pytest.fixture
def system_env() -> Iterator[dict[str, str]]:
    with fresh_vhost() as broker, fresh_databases() as databases:
        yield service_env(
            broker,
            databases,
            SCHEDULER_WAITLIST_INTERVAL="0.1",
            NOTIFIER_DISPATCH_INTERVAL="0.1",
        )


@pytest.fixture
def desk(system: System) -> System:
    for rt in system.runtimes.values():
        rt.clock = rt.emitter.clock = FrozenClock(NOON)
    system.start()
    system.wait_for_projections()
    return system


def book(s: System, client: str, starts_at: datetime = SLOT) -> str:
    response = s.call(
        "scheduler",
        "POST",
        "/api/v1/appointments",
        json={
            "client_id": demo_id(client),
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": starts_at.isoformat(),
        },
    )
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def cancel(s: System, appointment_id: str) -> None:
    response = s.call(
        "scheduler",
        "POST",
        f"/api/v1/appointments/{appointment_id}/cancel",
        json={"cancelled_by": "client", "reason": "cannot come"},
    )
    assert response.status_code == 200, response.json


def wait_list(s: System, client: str, start: int, end: int, priority: int = 0) -> str:
    """Put a client on the list for Dr. Rivera, on the session day's weekday from ``start`` to
    ``end`` o'clock on the client's own clock."""
    return wait_list_on(s, client, DAY.weekday(), start, end, priority)


def wait_list_on(
    s: System, client: str, weekday: int, start: int, end: int, priority: int = 0
) -> str:
    response = s.call(
        "scheduler",
        "POST",
        "/api/v1/waitlist",
        json={
            "client_id": demo_id(client),
            "practitioner_ids": [demo_id("dr-rivera")],
            "service_type_id": demo_id("ipt-session"),
            "windows": [{"weekday": weekday, "start": f"{start:02d}:00", "end": f"{end:02d}:00"}],
            "earliest_date": today().isoformat(),
            "latest_date": (DAY + timedelta(days=14)).isoformat(),
            "priority": priority,
        },
    )
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def entry(s: System, entry_id: str) -> dict[str, Any]:
    response = s.call("scheduler", "GET", f"/api/v1/waitlist/{entry_id}")
    assert response.status_code == 200
    return dict(response.json)


def offers(s: System, entry_id: str, status: str | None = None) -> list[dict[str, Any]]:
    return [o for o in entry(s, entry_id)["offers"] if status in (None, o["status"])]


def texts_to(s: System, client: str) -> list[str]:
    return [
        m.body
        for m in s.rows("notifier", SandboxMessage, SandboxMessage.recipient == PHONES[client])
    ]


def reply(s: System, client: str, body: str = "Y") -> None:
    response = s.call(
        "notifier", "POST", "/api/v1/sandbox/replies", json={"from": PHONES[client], "body": body}
    )
    assert response.status_code == 201, response.json


def settings(s: System, mode: str, offer_minutes: int = 60, batch: int = 2) -> None:
    response = s.call(
        "scheduler",
        "PUT",
        "/api/v1/waitlist-settings",
        admin=True,
        json={"mode": mode, "batch": batch, "offer_minutes": offer_minutes},
    )
    assert response.status_code == 200, response.json


def active_at_slot(s: System) -> list[Appointment]:
    return s.rows(
        "scheduler",
        Appointment,
        Appointment.practitioner_id == demo_id("dr-rivera"),
        Appointment.starts_at == SLOT,
        Appointment.status == "booked",
    )


def test_a_cancelled_session_goes_to_the_client_whose_window_it_fits(desk: System) -> None:
    # Marek (Warsaw) ranks higher but wants mornings on his own clock: 10:00 in New York is
    # 16:00 in Warsaw. Priya's 9-12 in Chicago takes it.
    marek = wait_list(desk, "client-marek", 9, 12, priority=9)
    priya = wait_list(desk, "client-priya", 9, 12, priority=1)
    cancel(desk, book(desk, "client-jordan"))

    wait_until(lambda: offers(desk, priya, "open"), message="an offer to Priya")
    offer = offers(desk, priya)[0]
    assert (offer["starts_at"], offer["practitioner_id"]) == (
        SLOT.isoformat(),
        demo_id("dr-rivera"),
    )
    text = wait_until(
        lambda: [t for t in texts_to(desk, "client-priya") if "Reply Y" in t],
        message="the offer SMS",
    )[0]
    assert "Dr. Ana Rivera" in text and "9:00 AM" in text and "/offers/" in text
    assert "IPT" not in text  # the service type is nobody else's business

    reply(desk, "client-priya")
    wait_until(lambda: entry(desk, priya)["status"] == "booked", message="Priya booked")
    [booked] = active_at_slot(desk)
    assert booked.client_id == demo_id("client-priya")
    assert entry(desk, priya)["appointment_id"] == booked.id
    [accepted] = offers(desk, priya)
    assert (accepted["status"], accepted["answered_by"]) == ("accepted", "sms")
    assert offers(desk, marek) == []
    # Booked the desk's way: the notifier confirms it as it confirms any booking.
    wait_until(
        lambda: any(": booked for" in t for t in texts_to(desk, "client-priya")),
        message="Priya's booking confirmation",
    )


def test_two_clients_accepting_at_once_get_one_booking_and_one_taken(desk: System) -> None:
    settings(desk, "first_n", batch=2)
    jordan = wait_list(desk, "client-jordan", 9, 12)
    priya = wait_list(desk, "client-priya", 8, 12)
    cancel(desk, book(desk, "client-marek"))
    wait_until(
        lambda: offers(desk, jordan, "open") and offers(desk, priya, "open"),
        message="offers to both",
    )
    wait_until(lambda: desk.count("notifier", OfferView) == 2, message="the notifier's offers")
    tokens = [v.accept_url.rsplit("/", 1)[1] for v in desk.rows("notifier", OfferView)]

    start = threading.Barrier(len(tokens))
    pages: list[str] = []

    def accept(token: str) -> None:
        client = desk.apps["scheduler"].test_client()
        start.wait()
        response = client.post(f"/offers/{token}")
        assert response.status_code == 200
        pages.append(response.get_data(as_text=True))

    threads = [threading.Thread(target=accept, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sum("You are booked" in p for p in pages) == 1
    assert sum("was taken" in p for p in pages) == 1
    [booked] = active_at_slot(desk)
    outcomes = sorted(o["status"] for e in (jordan, priya) for o in offers(desk, e))
    assert outcomes == ["accepted", "taken"]
    winner = jordan if entry(desk, jordan)["status"] == "booked" else priya
    assert booked.client_id == entry(desk, winner)["client_id"]
    # The one who lost still waits, and their link now says the slot was taken.
    loser = priya if winner == jordan else jordan
    assert entry(desk, loser)["status"] == "waiting"


def test_two_clients_replying_y_at_once_get_one_booking_and_one_taken_sms(desk: System) -> None:
    settings(desk, "first_n", batch=2)
    jordan = wait_list(desk, "client-jordan", 9, 12)
    priya = wait_list(desk, "client-priya", 8, 12)
    cancel(desk, book(desk, "client-marek"))
    for client in PHONES:
        wait_until(
            lambda c=client: any("Reply Y" in t for t in texts_to(desk, c)),
            message=f"the offer to {client}",
        )

    start = threading.Barrier(2)

    def say_yes(client: str) -> None:
        start.wait()
        reply(desk, client)

    threads = [threading.Thread(target=say_yes, args=(c,)) for c in PHONES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    wait_until(
        lambda: any("was taken" in t for c in PHONES for t in texts_to(desk, c)),
        message="the taken SMS",
    )
    [booked] = active_at_slot(desk)
    loser = next(c for c in PHONES if demo_id(c) != booked.client_id)
    assert [t for t in texts_to(desk, loser) if "was taken" in t]
    assert not [t for c in PHONES if c != loser for t in texts_to(desk, c) if "was taken" in t]
    statuses = {e: entry(desk, e)["status"] for e in (jordan, priya)}
    assert sorted(statuses.values()) == ["booked", "waiting"]


def test_an_unanswered_offer_expires_and_moves_to_the_next_client(desk: System) -> None:
    settings(desk, "one_at_a_time", offer_minutes=30)
    jordan = wait_list(desk, "client-jordan", 9, 12, priority=5)
    priya = wait_list(desk, "client-priya", 8, 12, priority=1)
    cancel(desk, book(desk, "client-marek"))
    wait_until(lambda: offers(desk, jordan, "open"), message="the first offer")
    assert offers(desk, priya) == []

    for rt in desk.runtimes.values():
        rt.clock.advance(timedelta(minutes=31))  # type: ignore[attr-defined]
    desk.sign_out()
    wait_until(lambda: offers(desk, priya, "open"), message="the offer moving on")
    assert [o["status"] for o in offers(desk, jordan)] == ["expired"]
    # Jordan's link is dead now; a made-up one never worked. (The notifier hears of Priya's
    # offer by event, a moment after the scheduler made it.)

    def offer_urls() -> dict[str, str]:
        with desk.runtimes["notifier"].db.sessions() as session:
            return {v.client_id: v.accept_url for v in session.scalars(select(OfferView))}

    urls = wait_until(
        lambda: demo_id("client-priya") in (found := offer_urls()) and found,
        message="the notifier's copy of the second offer",
    )
    dead = urls[demo_id("client-jordan")].rsplit("/", 1)[1]
    assert desk.apps["scheduler"].test_client().get(f"/offers/{dead}").status_code == 404
    assert desk.apps["scheduler"].test_client().get("/offers/" + "x" * 43).status_code == 404
    live = urls[demo_id("client-priya")].rsplit("/", 1)[1]
    page = desk.apps["scheduler"].test_client().get(f"/offers/{live}")
    assert page.status_code == 200 and "Book this session" in page.get_data(as_text=True)
    # Taking Priya off the list withdraws her offer; her link says so and books nothing.
    removed = desk.call("scheduler", "POST", f"/api/v1/waitlist/{priya}/remove")
    assert removed.status_code == 200
    assert [o["status"] for o in removed.json["offers"]] == ["withdrawn"]
    late = desk.apps["scheduler"].test_client().post(f"/offers/{live}")
    assert late.status_code == 200 and "withdrawn" in late.get_data(as_text=True)
    assert active_at_slot(desk) == []


def test_a_desk_booking_of_the_slot_withdraws_the_offer(desk: System) -> None:
    jordan = wait_list(desk, "client-jordan", 9, 12)
    cancel(desk, book(desk, "client-priya"))
    wait_until(lambda: offers(desk, jordan, "open"), message="the offer")
    wait_until(
        lambda: any("Reply Y" in t for t in texts_to(desk, "client-jordan")),
        message="the offer SMS",
    )
    book(desk, "client-marek")
    wait_until(lambda: offers(desk, jordan, "withdrawn"), message="the offer withdrawn")
    reply(desk, "client-jordan")  # too late: the slot is the desk's now
    wait_until(
        lambda: any("was taken" in t for t in texts_to(desk, "client-jordan")),
        message="the taken SMS",
    )
    [booked] = active_at_slot(desk)
    assert booked.client_id == demo_id("client-marek")
    assert entry(desk, jordan)["status"] == "waiting"


def test_an_offer_made_at_night_waits_for_the_end_of_quiet_hours(desk: System) -> None:
    night = local(today() + timedelta(days=1), 23)  # 23:00 in New York, 22:00 in Chicago
    for rt in desk.runtimes.values():
        rt.clock.set(night)  # type: ignore[attr-defined]
    desk.sign_out()
    settings(desk, "first_n", offer_minutes=12 * 60, batch=2)
    jordan = wait_list(desk, "client-jordan", 9, 12)
    cancel(desk, book(desk, "client-marek"))
    wait_until(lambda: offers(desk, jordan, "open"), message="the offer")
    [notice] = wait_until(
        lambda: desk.rows("notifier", OfferNotice), message="the offer's message planned"
    )
    # The default quiet hours (21:00-08:00) in Jordan's zone hold it until 8:00 there.
    assert notice.due_at == local(today() + timedelta(days=2), 8)
    assert texts_to(desk, "client-jordan") == []
    for rt in desk.runtimes.values():
        rt.clock.set(notice.due_at)  # type: ignore[attr-defined]
    wait_until(
        lambda: any("Reply Y" in t for t in texts_to(desk, "client-jordan")),
        message="the offer sent at 8:00",
    )


def test_extra_hours_are_offered_too(desk: System) -> None:
    saturday = DAY + timedelta(days=(5 - DAY.weekday()) % 7)
    priya = wait_list_on(desk, "client-priya", saturday.weekday(), 8, 12)
    response = desk.call(
        "scheduler",
        "POST",
        f"/api/v1/practitioners/{demo_id('dr-rivera')}/time-off",
        admin=True,
        json={
            "kind": "extra",
            "starts_at": local(saturday, 10).isoformat(),
            "ends_at": local(saturday, 12).isoformat(),
        },
    )
    assert response.status_code == 201, response.json
    wait_until(lambda: offers(desk, priya, "open"), message="an offer of the extra hours")
    assert offers(desk, priya)[0]["starts_at"] == local(saturday, 10).isoformat()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"windows": [{"weekday": 0, "start": "12:00", "end": "09:00"}]}, "windows.0"),
        ({"windows": []}, "windows"),
        ({"windows": [{"weekday": 7, "start": "09:00", "end": "12:00"}]}, "windows.0.weekday"),
        ({"latest_date": "2020-01-01", "earliest_date": "2020-01-01"}, "latest_date"),
        ({"earliest_date": "2030-02-01", "latest_date": "2030-01-01"}, "body"),
        ({"client_id": "no-such-client"}, "client_id"),
        ({"practitioner_ids": ["nobody"]}, "practitioner_ids"),
        ({"priority": 101}, "priority"),
    ],
    ids=[
        "window-backwards",
        "no-window",
        "bad-weekday",
        "dates-past",
        "dates-reversed",
        "unknown-client",
        "unknown-practitioner",
        "priority-too-high",
    ],
)
def test_bad_entries_are_refused_and_change_nothing(
    system: System, change: dict[str, Any], field: str
) -> None:
    body = {
        "client_id": demo_id("client-jordan"),
        "service_type_id": demo_id("ipt-session"),
        "windows": [{"weekday": 0, "start": "09:00", "end": "12:00"}],
        "earliest_date": today().isoformat(),
        "latest_date": (today() + timedelta(days=30)).isoformat(),
    } | change
    response = system.call("scheduler", "POST", "/api/v1/waitlist", json=body)
    assert response.status_code == 422, response.json
    assert response.mimetype == "application/problem+json"
    assert any(e["field"].startswith(field) for e in response.json["errors"]), response.json
    assert system.count("scheduler", WaitlistEntry) == 0


def test_the_list_pages_like_the_other_lists(system: System) -> None:
    for client in ("client-jordan", "client-priya", "client-marek"):
        response = system.call(
            "scheduler",
            "POST",
            "/api/v1/waitlist",
            json={
                "client_id": demo_id(client),
                "service_type_id": demo_id("phone-check-in"),
                "windows": [{"weekday": 2, "start": "13:00", "end": "00:00"}],
                "earliest_date": (today() + timedelta(days=2)).isoformat(),
                "latest_date": (today() + timedelta(days=40)).isoformat(),
            },
        )
        assert response.status_code == 201
        assert response.json["windows"] == [{"weekday": 2, "start": "13:00", "end": "24:00"}]
    first = system.call("scheduler", "GET", "/api/v1/waitlist?limit=2").json
    assert len(first["items"]) == 2 and first["has_more"]
    rest = system.call(
        "scheduler", "GET", f"/api/v1/waitlist?limit=2&cursor={first['next_cursor']}"
    )
    assert len(rest.json["items"]) == 1 and not rest.json["has_more"]
    ids = {e["id"] for e in first["items"] + rest.json["items"]}
    assert len(ids) == 3
    removed = system.call(
        "scheduler", "POST", f"/api/v1/waitlist/{rest.json['items'][0]['id']}/remove"
    )
    assert removed.status_code == 200 and removed.json["status"] == "removed"
    again = system.call(
        "scheduler", "POST", f"/api/v1/waitlist/{rest.json['items'][0]['id']}/remove"
    )
    assert again.status_code == 409
    waiting = system.call("scheduler", "GET", "/api/v1/waitlist?status=waiting").json["items"]
    assert len(waiting) == 2
    assert system.count("scheduler", WaitlistOffer) == 0


def test_an_offer_message_left_sending_by_a_stopped_worker_is_never_sent_again(
    system: System,
) -> None:
    from services.notifier.dispatcher import ReminderDispatcher
    from services.notifier.offers import OfferSender
    from services.notifier.tables import Message, OfferNotice, OfferView

    rt = system.runtimes["notifier"]
    at = NOON - timedelta(minutes=10)
    rt.clock = FrozenClock(NOON)
    with rt.db.transaction() as session:
        session.add(
            OfferView(
                offer_id="offer-1",
                client_id=demo_id("client-jordan"),
                practitioner_id=demo_id("dr-rivera"),
                starts_at=SLOT,
                ends_at=SLOT + timedelta(minutes=50),
                time_zone="America/New_York",
                expires_at=NOON + timedelta(hours=1),
                accept_url="https://rapport.example/offers/x",
                status="open",
                created_at=at,
            )
        )
        session.flush()
        session.add(
            OfferNotice(
                id="notice-1",
                offer_id="offer-1",
                client_id=demo_id("client-jordan"),
                kind="waitlist_offer",
                channel="sms",
                due_at=at,
                status="sending",
                message_id="message-1",
                created_at=at,
            )
        )
        session.add(
            Message(
                id="message-1",
                client_id=demo_id("client-jordan"),
                channel="sms",
                kind="waitlist_offer",
                recipient=PHONES["client-jordan"],
                provider="sandbox",
                status="sending",
                created_at=at,
                updated_at=at,
            )
        )
    sender = OfferSender(rt, ReminderDispatcher(rt))
    assert sender.run_once() == 0
    [notice] = system.rows("notifier", OfferNotice)
    [message] = system.rows("notifier", Message)
    assert (notice.status, message.status) == ("unknown", "unknown")
    assert system.count("notifier", SandboxMessage) == 0
