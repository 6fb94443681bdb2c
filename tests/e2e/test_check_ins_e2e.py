"""A check-in end to end: the scheduler and the notifier as real processes on RabbitMQ and
PostgreSQL, the notifier sending through the real twilio SDK to the fake Twilio, the whole
system placed (RAPPORT_TEST_NOW) on the evening the clocks sprang forward in New York. An admin
sets the safety net and enrols a client for 19:00 daily; the enrolment travels by event, and
the worker sends the check-in at 19:00 EDT — 23:00 UTC, an hour earlier than the day before."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from shared.demo import demo_id
from tests.e2e.conftest import Deployment, Processes, _answers
from tests.fakes.twilio import FakeTwilio, FakeTwilioServer
from tests.support import free_port, fresh_databases, fresh_vhost, service_env, wait_until

pytestmark = pytest.mark.e2e
PUBLIC = "https://rapport.example"
JORDAN = demo_id("client-jordan")
# 18:57:30 EDT on 14 March 2027, the day New York sprang forward: time for the processes to
# start and the enrolment to travel before the first check-in is due.
PLACED_AT = "2027-03-14T22:57:30Z"
DUE = datetime(2027, 3, 14, 23, 0, tzinfo=UTC)  # 19:00 EDT
SAFETY = "If you need someone to talk to right now, call or text 988, any time."


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, FakeTwilio]]:
    twilio = FakeTwilioServer()
    with twilio as fake, fresh_vhost() as broker, fresh_databases() as databases:
        env = service_env(
            broker,
            databases,
            RAPPORT_PUBLIC_URL=PUBLIC,
            NOTIFIER_DISPATCH_INTERVAL="0.2",
            NOTIFIER_SMS_PER_SECOND="20",
            RAPPORT_TEST_NOW=PLACED_AT,
            RAPPORT_TEST_NOW_ANCHOR=repr(time.time()),
            **twilio.env(),
        )
        processes = Processes(env, tmp_path_factory.mktemp("check-ins-e2e"))
        processes.run("migrate", "all")
        processes.run("seed-demo")
        web = {}
        for service in ("scheduler", "notifier"):
            port = free_port()
            processes.start(f"{service}-web", "web", service, "--bind", f"127.0.0.1:{port}")
            processes.start(f"{service}-worker", "worker", service)
            web[service] = f"http://127.0.0.1:{port}"
        try:
            for url in web.values():
                wait_until(lambda u=url: _answers(u), timeout=90, message=f"{url} to answer")
            yield Deployment(web, {}, processes.logs), fake
        except BaseException:
            print(processes.log_tail())
            raise
        finally:
            processes.stop_all()


def put(d: Deployment, path: str, token: str, body: dict[str, Any]) -> requests.Response:
    return d.http.put(
        d.web["scheduler"] + path,
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def check_ins(twilio: FakeTwilio) -> list[dict[str, str]]:
    """The check-in SMS the fake Twilio received (the demo's own reminders aside)."""
    question = "How has today been, from 0 (worst) to 10 (best)?"
    return [m for m in twilio.sent() if m["Body"].startswith(question)]


def test_the_worker_sends_the_daily_check_in_at_19_00_local_after_the_dst_change(
    system: tuple[Deployment, FakeTwilio],
) -> None:
    d, twilio = system
    admin = d.sign_in(admin=True)
    settings = {"threshold": 3, "crisis_words": ["hopeless"], "safety_message": SAFETY}
    assert put(d, "/api/v1/check-in-settings", admin, settings).status_code == 200
    enrolment = {
        "schedule": "daily",
        "time": "19:00",
        "until": "date",
        "until_date": "2027-06-30",
        "practitioner_id": demo_id("dr-rivera"),
    }
    enrolled = put(d, f"/api/v1/clients/{JORDAN}/check-ins", admin, enrolment)
    assert enrolled.status_code == 200, enrolled.text

    def planned() -> str | None:
        status = d.get("notifier", f"/api/v1/check-ins/clients/{JORDAN}", admin)
        return status.json()["next_due_at"] if status.status_code == 200 else None

    due = wait_until(planned, timeout=60, message="the enrolment to reach the notifier")
    assert datetime.fromisoformat(due) == DUE
    assert check_ins(twilio) == []

    [sms] = wait_until(lambda: check_ins(twilio), timeout=240, message="the 19:00 check-in")
    assert sms["To"] == "+16175550123"
    messages = d.get("notifier", "/api/v1/messages", admin, params={"client_id": JORDAN}).json()
    [logged] = [m for m in messages["items"] if m["kind"] == "check_in"]
    assert datetime.fromisoformat(logged["created_at"]) >= DUE
