"""The waiting list end to end: every service as real processes on RabbitMQ and PostgreSQL, the
notifier sending through a fake Twilio with the real SDK. A cancelled session is offered by SMS
to the waiting client, a signed "Y" reply books it, and the client gets the usual confirmation."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from shared.demo import demo_id
from tests.e2e.test_notifier_flow import PUBLIC, World, world  # noqa: F401 - the fixture
from tests.fakes.twilio import signed
from tests.support import local, today, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.clock]
JORDAN_PHONE = "+16175550123"


def test_a_cancelled_session_is_offered_by_sms_and_a_y_books_it(world: World) -> None:  # noqa: F811
    d = world.d
    day = today() + timedelta(days=4)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    starts_at = local(day, 11)
    # No quiet hours: the test runs at any hour of the client's night.
    policy = {"rules": [{"kind": "confirmation", "channel": "sms"}], "quiet_hours": None}
    put = d.http.put(
        f"{d.web['notifier']}/api/v1/reminder-policy",
        json=policy,
        headers={"Authorization": f"Bearer {world.admin}"},
        timeout=10,
    )
    assert put.status_code == 200, put.text
    entry = d.post(
        "scheduler",
        "/api/v1/waitlist",
        world.token,
        json={
            "client_id": demo_id("client-jordan"),
            "service_type_id": demo_id("ipt-session"),
            "windows": [{"weekday": day.weekday(), "start": "10:00", "end": "13:00"}],
            "earliest_date": today().isoformat(),
            "latest_date": day.isoformat(),
        },
    )
    assert entry.status_code == 201, entry.text
    booked = d.post(
        "scheduler",
        "/api/v1/appointments",
        world.token,
        json={
            "client_id": demo_id("client-priya"),
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": starts_at.isoformat(),
        },
    )
    assert booked.status_code == 201, booked.text
    cancelled = d.post(
        "scheduler",
        f"/api/v1/appointments/{booked.json()['id']}/cancel",
        world.token,
        json={"cancelled_by": "client", "reason": "travelling"},
    )
    assert cancelled.status_code == 200, cancelled.text

    offer = wait_until(
        lambda: [
            s for s in world.twilio.sent() if s["To"] == JORDAN_PHONE and "Reply Y" in s["Body"]
        ],
        timeout=60,
        message="the offer SMS",
    )[0]
    assert "Dr. Ana Rivera" in offer["Body"] and "11:00 AM" in offer["Body"]
    assert f"{PUBLIC}/offers/" in offer["Body"]

    form = {"MessageSid": "SM" + "e" * 32, "From": JORDAN_PHONE, "To": "+16175550199", "Body": "Y"}
    path = "/webhooks/twilio/sms"
    reply = requests.post(
        d.web["notifier"] + path, data=form, headers=signed(PUBLIC + path, form), timeout=10
    )
    assert reply.status_code == 200

    def jordans_session() -> list[dict[str, object]]:
        found = d.get(
            "scheduler",
            "/api/v1/appointments",
            world.token,
            params={"client_id": demo_id("client-jordan"), "status": "booked"},
        ).json()["items"]
        return [a for a in found if a["starts_at"] == starts_at.isoformat()]

    [session] = wait_until(jordans_session, timeout=30, message="Jordan booked from the list")
    assert session["practitioner_id"] == demo_id("dr-rivera")
    wait_until(
        lambda: [
            s for s in world.twilio.sent() if s["To"] == JORDAN_PHONE and "booked for" in s["Body"]
        ],
        timeout=30,
        message="the booking confirmation",
    )
    listed = d.get("scheduler", f"/api/v1/waitlist/{entry.json()['id']}", world.token).json()
    assert listed["status"] == "booked" and listed["appointment_id"] == session["id"]
    assert [(o["status"], o["answered_by"]) for o in listed["offers"]] == [("accepted", "sms")]
