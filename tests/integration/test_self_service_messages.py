"""The self-service link as a client meets it, through the real RabbitMQ and PostgreSQL: in the
confirmation SMS (one GSM-7 segment) and email, and for a course in its one confirmation; and
the page's "ask to reschedule" arriving in the desk inbox the notifier keeps."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from services.notifier import sms_text
from services.notifier.tables import AppointmentView
from services.scheduler.tables import SelfServiceLink
from shared.demo import demo_id
from tests.integration.test_client_messages import (  # noqa: F401 - the world fixture
    NOW,
    PUBLIC,
    World,
    book_course,
    world,
)
from tests.support import wait_until

pytestmark = pytest.mark.integration
LINK = re.compile(re.escape(PUBLIC) + r"/s/([A-Za-z0-9_-]{16})")


def test_the_confirmation_links_to_the_sessions_page(world: World) -> None:  # noqa: F811 - the imported fixture
    s = world.system
    booked = s.call(
        "scheduler",
        "POST",
        "/api/v1/appointments",
        json={
            "client_id": demo_id("client-jordan"),
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": (NOW + timedelta(days=2)).replace(hour=11).isoformat(),
        },
    )
    assert booked.status_code == 201, booked.json
    aid = booked.json["id"]
    [link] = s.rows("scheduler", SelfServiceLink, SelfServiceLink.appointment_id == aid)

    [sms] = wait_until(world.texts, timeout=30, message="the confirmation SMS")
    assert LINK.findall(sms) == [link.token]
    cost = sms_text.count(sms)
    assert (cost.encoding, cost.segments) == ("GSM-7", 1), sms
    [mail] = wait_until(world.mailbox.received, timeout=30, message="the confirmation email")
    parts = {p.get_content_type(): p for p in mail.walk()}
    assert LINK.findall(parts["text/plain"].get_payload(decode=True).decode()) == [link.token]
    assert f'href="{PUBLIC}/s/{link.token}"' in parts["text/html"].get_payload(decode=True).decode()

    page = s.apps["scheduler"].test_client().get(f"/s/{link.token}")
    assert page.status_code == 200
    nonce = re.search(r'name="nonce" value="([0-9a-f]+)"', page.get_data(as_text=True))
    assert nonce is not None
    asked = (
        s.apps["scheduler"]
        .test_client()
        .post(f"/s/{link.token}/reschedule", data={"nonce": nonce.group(1)})
    )
    assert asked.status_code == 303

    def inbox() -> list[dict[str, object]]:
        return list(s.call("notifier", "GET", "/api/v1/inbox").json["items"])

    [item] = wait_until(inbox, timeout=30, message="the request in the desk inbox")
    assert (item["intent"], item["client_id"], item["appointment_id"]) == (
        "reschedule",
        demo_id("client-jordan"),
        aid,
    )
    assert "reschedule the session of Thursday, January 14, 2027 at 11:00 AM EST" in str(
        item["body"]
    )
    # The desk marks it handled as any other inbox item.
    handled = s.call("notifier", "POST", f"/api/v1/inbox/{item['id']}/handled")
    assert handled.status_code == 200 and handled.json["handled_at"]

    # A revoked link is replaced in the notifier's copy, so later messages carry the new one.
    revoked = s.call("scheduler", "POST", f"/api/v1/appointments/{aid}/self-service-link/revoke")
    fresh = str(revoked.json["url"]).rsplit("/", 1)[1]
    assert fresh != link.token
    wait_until(
        lambda: [v.self_service_token for v in s.rows("notifier", AppointmentView)] == [fresh],
        message="the new link in the notifier's copy",
    )


def test_a_course_confirmation_links_to_its_first_session(world: World) -> None:  # noqa: F811 - the imported fixture
    s = world.system
    course = book_course(s, 4)
    first = course["booked"][0]["id"]  # type: ignore[index]
    [link] = s.rows("scheduler", SelfServiceLink, SelfServiceLink.appointment_id == first)
    wait_until(
        lambda: s.count("notifier", AppointmentView) == 4,
        message="the sessions known to the notifier",
    )
    [sms] = wait_until(world.texts, timeout=30, message="the course SMS")
    assert LINK.findall(sms) == [link.token]
    assert sms_text.count(sms).encoding == "GSM-7"
    [mail] = wait_until(world.mailbox.received, timeout=30, message="the course email")
    parts = {p.get_content_type(): p for p in mail.walk()}
    text = parts["text/plain"].get_payload(decode=True).decode()
    assert "For the first one: confirm, cancel" in text and LINK.findall(text) == [link.token]
