"""Reminders end to end: every service as real processes on RabbitMQ and PostgreSQL, the
notifier talking to a fake Twilio through the real SDK and to an aiosmtpd server.

Book -> confirmation email with a parseable .ics and an SMS; the SMS reminder when due; a signed
"C" reply confirms the appointment at the desk; cancel -> pending reminders cancelled and exactly
one notice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from icalendar import Calendar

from services.notifier.policy import iso_duration
from shared.config import SERVICES
from shared.demo import demo_id
from tests.e2e.conftest import Deployment, Processes, _answers
from tests.fakes.smtp import Mailbox, SmtpServer
from tests.fakes.twilio import FakeTwilio, FakeTwilioServer, signed
from tests.support import (
    days_ahead,
    free_port,
    fresh_databases,
    fresh_vhost,
    now,
    service_env,
    wait_until,
)

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = [pytest.mark.e2e, pytest.mark.clock]
PUBLIC = "https://rapport.example"
JORDAN_PHONE = "+16175550123"


class World:
    def __init__(self, deployment: Deployment, twilio: FakeTwilio, mailbox: Mailbox) -> None:
        self.d = deployment
        self.twilio = twilio
        self.mailbox = mailbox
        self.token = deployment.sign_in()
        self.admin = deployment.sign_in(admin=True)

    def reminders(self, appointment_id: str) -> list[dict[str, Any]]:
        response = self.d.get(
            "notifier", "/api/v1/reminders", self.token, params={"appointment_id": appointment_id}
        )
        return list(response.json()["items"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    twilio, smtp = FakeTwilioServer(), SmtpServer()
    with (
        twilio as fake,
        smtp as mailbox,
        fresh_vhost() as broker,
        fresh_databases(migrated=True) as databases,
    ):
        env = service_env(
            broker,
            databases,
            RAPPORT_PUBLIC_URL=PUBLIC,
            NOTIFIER_DISPATCH_INTERVAL="0.2",
            NOTIFIER_SMS_PER_SECOND="20",
            **twilio.env(),
            **smtp.env(),
        )
        processes = Processes(env, tmp_path_factory.mktemp("notifier-e2e"))
        processes.run("seed-demo")
        web, metrics = {}, {}
        for service in SERVICES:
            port, metrics_port = free_port(), free_port()
            processes.start(f"{service}-web", "web", service, "--bind", f"127.0.0.1:{port}")
            processes.start(
                f"{service}-worker", "worker", service, "--metrics-port", str(metrics_port)
            )
            web[service] = f"http://127.0.0.1:{port}"
            metrics[service] = f"http://127.0.0.1:{metrics_port}"
        try:
            for url in [*web.values(), *metrics.values()]:
                wait_until(lambda u=url: _answers(u), timeout=90, message=f"{url} to answer")
            yield World(Deployment(web, metrics, processes.logs), fake, mailbox)
        except BaseException:
            print(processes.log_tail())
            raise
        finally:
            processes.stop_all()


def _slot(days: int) -> datetime:
    return days_ahead(days, hour=10)


def test_book_remind_confirm_by_reply_and_cancel_with_one_notice(world: World) -> None:
    d = world.d
    starts_at = _slot(6)
    # A policy whose SMS reminder falls due a few seconds from now, and no quiet hours (the
    # test runs at any hour of the client's night).
    lead = starts_at - (now() + timedelta(seconds=8))
    policy = {
        "rules": [
            {"kind": "confirmation", "channel": "email"},
            {"kind": "confirmation", "channel": "sms"},
            {"kind": "reminder", "channel": "sms", "offset": iso_duration(lead)},
        ],
        "quiet_hours": None,
        "sms_caps": {"per_day": 3, "per_week": 10},
    }
    assert (
        d.http.put(
            f"{d.web['notifier']}/api/v1/reminder-policy",
            json=policy,
            headers={"Authorization": f"Bearer {world.admin}"},
            timeout=10,
        ).status_code
        == 200
    )

    booked = d.post(
        "scheduler",
        "/api/v1/appointments",
        world.token,
        json={
            "client_id": demo_id("client-jordan"),
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": starts_at.isoformat(),
        },
    )
    assert booked.status_code == 201, booked.text
    a = booked.json()["id"]

    # The confirmation email, with an .ics a calendar app can read.
    [mail] = wait_until(world.mailbox.received, timeout=30, message="the confirmation email")
    assert mail["To"] == "jordan.lee@example.com"
    calendar_part = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
    calendar = Calendar.from_ical(calendar_part.get_payload(decode=True))
    [event] = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == starts_at
    assert str(event["UID"]) == f"{a}@rapport"

    # The SMS confirmation at once, the reminder when due.
    sms = wait_until(
        lambda: len(world.twilio.sent()) >= 2 and world.twilio.sent(), timeout=40, message="two SMS"
    )
    assert [s["To"] for s in sms] == [JORDAN_PHONE, JORDAN_PHONE]
    assert "booked for" in sms[0]["Body"] and "reminder of" in sms[1]["Body"]
    assert all(s["StatusCallback"] == f"{PUBLIC}/webhooks/twilio/status" for s in sms)
    wait_until(
        lambda: (
            {(r["kind"], r["channel"], r["status"]) for r in world.reminders(a)}
            == {
                ("confirmation", "email", "sent"),
                ("confirmation", "sms", "sent"),
                ("reminder", "sms", "sent"),
            }
        ),
        message="all three recorded sent",
    )

    # The client replies C: a correctly signed webhook, and the desk sees the appointment confirmed.
    form = {"MessageSid": "SM" + "c" * 32, "From": JORDAN_PHONE, "To": "+16175550199", "Body": "C"}
    path = "/webhooks/twilio/sms"
    unsigned = requests.post(d.web["notifier"] + path, data=form, timeout=10)
    assert unsigned.status_code == 403
    reply = requests.post(
        d.web["notifier"] + path, data=form, headers=signed(PUBLIC + path, form), timeout=10
    )
    assert reply.status_code == 200
    wait_until(
        lambda: (
            d.get("scheduler", f"/api/v1/appointments/{a}", world.token).json()["status"]
            == "confirmed"
        ),
        timeout=30,
        message="the appointment confirmed at the desk",
    )

    # Cancel: what is pending is cancelled and exactly one notice goes out.
    later = d.post(
        "scheduler",
        "/api/v1/appointments",
        world.token,
        json={
            "client_id": demo_id("client-jordan"),
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": _slot(9).isoformat(),
        },
    )
    assert later.status_code == 201, later.text
    b = later.json()["id"]
    wait_until(
        lambda: len(world.mailbox.received()) == 2, timeout=30, message="second confirmation"
    )
    cancelled = d.post(
        "scheduler", f"/api/v1/appointments/{b}/cancel", world.token,
        json={"cancelled_by": "client", "reason": "client asked by phone"},
    )  # fmt: skip
    assert cancelled.status_code == 200, cancelled.text
    notices = wait_until(
        lambda: [m for m in world.mailbox.received() if "cancelled" in str(m["Subject"])],
        timeout=30,
        message="the cancellation notice",
    )
    statuses = wait_until(
        lambda: (
            (s := {(r["kind"], r["channel"]): r["status"] for r in world.reminders(b)}).get(
                ("cancellation_notice", "email")
            )
            == "sent"
            and s
        ),
        message="the notice recorded sent",
    )
    assert statuses[("reminder", "sms")] == "cancelled"
    assert len(notices) == 1
    assert len([s for s in statuses if s[0] == "cancellation_notice"]) == 1
    cancel_ics = Calendar.from_ical(
        next(p for p in notices[0].walk() if p.get_content_type() == "text/calendar").get_payload(
            decode=True
        )
    )
    assert str(cancel_ics["METHOD"]) == "CANCEL"


def test_worker_metrics_show_reminders_and_the_due_backlog(world: World) -> None:
    text = requests.get(world.d.worker_metrics["notifier"], timeout=5).text
    assert 'rapport_reminders_due_backlog{channel="sms"}' in text
    assert "rapport_reminder_lateness_seconds_bucket" in text
    assert "rapport_reminders_planned_total" in text
