"""The front-desk UI in a real browser (Debian's Chromium through Playwright) against every
service's gunicorn web and worker as real processes, behind a loopback gateway on one origin."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from services.scheduler.demo import DEMO_ADMIN, DEMO_LOGIN
from shared.config import SERVICES
from tests.e2e.conftest import Deployment, Processes, _answers
from tests.fakes.gateway import Gateway
from tests.support import (
    days_ahead,
    free_port,
    fresh_databases,
    fresh_vhost,
    now,
    service_env,
    wait_until,
)

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
PRACTICE_ZONE = ZoneInfo("America/New_York")  # the demo practice's zone


@dataclass
class Desk:
    url: str
    browser: Browser

    def context(self, **kw: object) -> BrowserContext:
        options: dict[str, object] = {
            "viewport": {"width": 1280, "height": 800},
            # Not the practice's zone: the calendar must show the practice's times anyway.
            "timezone_id": "Europe/Berlin",
            "base_url": self.url,
        }
        options.update(kw)
        context = self.browser.new_context(**options)  # type: ignore[arg-type]
        context.set_default_timeout(15_000)
        return context


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    gateway_port = free_port()
    public_url = f"http://127.0.0.1:{gateway_port}"
    with fresh_vhost() as broker, fresh_databases() as databases:
        processes = Processes(
            service_env(broker, databases, RAPPORT_PUBLIC_URL=public_url),
            tmp_path_factory.mktemp("ui-logs"),
        )
        processes.run("migrate", "all")
        processes.run("seed-demo")
        web = {}
        for service in SERVICES:
            port = free_port()
            processes.start(
                f"{service}-web", "web", service, "--bind", f"127.0.0.1:{port}", "--workers", "2"
            )
            processes.start(f"{service}-worker", "worker", service)
            web[service] = f"http://127.0.0.1:{port}"
        gateway = Gateway(web)
        try:
            for url in web.values():
                wait_until(lambda u=url: _answers(u), timeout=120, message=f"{url} to answer")
            assert gateway.start(port=gateway_port) == public_url
            # The desk's invoice badges and balances follow bookings made now: prepaid mode.
            Deployment(web, {}, processes.logs).invoice_when_booked()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                try:
                    yield Desk(public_url, browser)
                finally:
                    browser.close()
        except BaseException:
            print(processes.log_tail())
            raise
        finally:
            gateway.stop()
            processes.stop_all()


def sign_in(page: Page, login: tuple[str, str] = DEMO_LOGIN) -> None:
    email, password = login
    page.goto("/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/day$"))


@contextlib.contextmanager
def signed_in(desk: Desk, login: tuple[str, str] = DEMO_LOGIN, **kw: object) -> Iterator[Page]:
    context = desk.context(**kw)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in(page, login)
        yield page
    finally:
        context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def wall(instant: datetime) -> tuple[str, str]:
    local = instant.astimezone(PRACTICE_ZONE)
    return local.date().isoformat(), local.strftime("%H:%M")


def test_sign_in_failure_then_success_sets_a_strict_http_only_secure_cookie(desk: Desk) -> None:
    context = desk.context()
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(f"{desk.url}/sign-in")
    page.get_by_label("Email").fill(DEMO_LOGIN[0])
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The email or password is not right.")
    page.screenshot(path=str(ARTIFACTS / "sign-in-failed.png"))

    page.get_by_label("Password").fill(DEMO_LOGIN[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{desk.url}/day")
    expect(page.get_by_role("banner")).to_contain_text("Harbour Street Therapy")
    expect(page.get_by_role("banner")).to_contain_text("Front Desk")
    cookie = next(c for c in context.cookies() if c["name"] == "rapport_session")
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")
    # The page's scripts cannot read the session token.
    assert "rapport_session" not in page.evaluate("document.cookie")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{desk.url}/sign-in")
    assert not [c for c in context.cookies() if c["name"] == "rapport_session"]
    page.goto("/week")
    expect(page).to_have_url(f"{desk.url}/sign-in")
    context.close()


def test_failed_sign_ins_are_limited_per_email(desk: Desk) -> None:
    # The count is the database's, shared by both gunicorn workers: the sixth try is refused.
    answers = []
    for _ in range(6):
        form = requests.get(f"{desk.url}/sign-in", timeout=10)
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        # The cookie is Secure: requests would not send it over http, a browser on 127.0.0.1 does.
        response = requests.post(
            f"{desk.url}/sign-in",
            data={
                "email": "nobody@harbourstreet.example",
                "password": "guess",
                "csrf_token": token,
            },
            headers={"Cookie": f"rapport_ui_pre={form.cookies['rapport_ui_pre']}"},
            timeout=10,
            allow_redirects=False,
        )
        answers.append(response.status_code)
    assert answers == [401] * 5 + [429], answers
    assert "Too many failed sign-ins" in response.text
    metrics = requests.get(f"{desk.url}/metrics", timeout=10).text
    assert 'rapport_ui_sign_ins_total{outcome="limited"} 1.0' in metrics


def test_forms_and_api_refuse_requests_without_the_csrf_token(desk: Desk) -> None:
    http = requests.Session()
    # A sign-in form post without its CSRF field signs nobody in.
    email, password = DEMO_LOGIN
    response = http.post(
        f"{desk.url}/sign-in",
        data={"email": email, "password": password},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 400
    assert "out of date" in response.text
    assert "rapport_session" not in response.cookies

    with signed_in(desk) as page:
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        token = page.locator('meta[name="csrf-token"]').get_attribute("content")
        assert token
        jar = {"rapport_session": cookies["rapport_session"]}
        body = {"cancelled_by": "client", "reason": "x"}
        # With the cookie but without the token: refused before anything happens.
        missing = requests.post(
            f"{desk.url}/api/v1/appointments/any/cancel", json=body, cookies=jar, timeout=10
        )
        assert missing.status_code == 403
        assert missing.headers["Content-Type"].startswith("application/problem+json")
        # The same request with the token gets through the check (and finds no appointment).
        allowed = requests.post(
            f"{desk.url}/api/v1/appointments/any/cancel",
            json=body,
            cookies=jar,
            headers={"X-CSRF-Token": token},
            timeout=10,
        )
        assert allowed.status_code == 404
        # A sign-out form post without the token leaves the session alone.
        refused = requests.post(f"{desk.url}/sign-out", cookies=jar, timeout=10)
        assert refused.status_code == 403
        page.reload()
        expect(page).to_have_url(f"{desk.url}/day")


def desk_reminder_status(desk: Desk, appointment_id: str) -> str | re.Pattern[str]:
    """What the desk's reminder badge must come to show for a session: the message sent once the
    first one is due (within the next minute, so it has gone out by the time the test looks),
    else "Reminders planned". Reminders that were never planned (already due) do not count."""
    token = requests.post(
        f"{desk.url}/api/v1/auth/token",
        json={"email": DEMO_LOGIN[0], "password": DEMO_LOGIN[1]},
        timeout=10,
    ).json()["access_token"]
    plan = wait_until(
        lambda: requests.get(
            f"{desk.url}/api/v1/reminders?appointment_id={appointment_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()["items"],
        message="the session's reminder plan",
    )
    first_due = min(
        datetime.fromisoformat(r["due_at"]) for r in plan if r["status"] != "not_planned"
    )
    if first_due <= now() + timedelta(minutes=1):
        return re.compile("(Confirmation|Reminder) (sent|delivered)")
    return "Reminders planned"


@pytest.mark.clock  # runs again at the fixed instants of `make test`
def test_book_a_course_see_it_cancel_late_and_reschedule(desk: Desk) -> None:
    # The first session falls inside the 24-hour late-cancellation window whatever the instant.
    first = (now() + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    day, time = wall(first)
    with signed_in(desk) as page:
        page.screenshot(path=str(ARTIFACTS / "day-empty.png"))
        page.get_by_role("link", name="Book").click()
        page.get_by_label("Find a client by name, phone or email").fill("priya")
        page.get_by_label("Priya Natarajan").check()
        page.get_by_label("Practitioner").select_option(label="Dr. Ana Rivera")
        page.get_by_label("Service type").select_option(label="IPT session (50 min)")
        page.get_by_label("Date").fill(day)
        page.get_by_label("Start time").fill(time)
        page.get_by_label("Number of sessions").fill("4")
        page.screenshot(path=str(ARTIFACTS / "book-form.png"))
        page.get_by_role("button", name="Review and book").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("4 sessions, weekly")
        expect(dialog).to_contain_text("Priya Natarajan")
        dialog.get_by_role("button", name="Book").click()
        expect(page.locator("#booked")).to_contain_text("Booked 4 sessions for Priya Natarajan")
        page.screenshot(path=str(ARTIFACTS / "booked.png"))

        # The same course again clashes: nothing booked, the clashes and alternatives shown.
        page.get_by_role("link", name="Book another").click()
        page.get_by_label("Find a client by name, phone or email").fill("Priya")
        page.get_by_label("Priya Natarajan").check()
        page.get_by_label("Date").fill(day)
        page.get_by_label("Start time").fill(time)
        page.get_by_label("Number of sessions").fill("4")
        page.get_by_role("button", name="Review and book").click()
        page.get_by_role("dialog").get_by_role("button", name="Book").click()
        conflicts = page.locator(".conflicts")
        expect(conflicts).to_contain_text("Nothing was booked")
        expect(conflicts).to_contain_text("already has a session then")
        expect(conflicts.get_by_role("group", name="Alternatives for session 1")).to_be_visible()
        expect(page.locator("#book-form .error[role=alert]")).to_contain_text("4 of 4 sessions")
        page.screenshot(path=str(ARTIFACTS / "book-conflicts.png"), full_page=True)

        # The first session is on the calendar of its day, in the practice's time zone.
        page.goto(f"/day?date={day}")
        card = page.locator("article.appointment", has_text="Priya Natarajan")
        expect(card).to_have_count(1)
        expect(card).to_contain_text("Booked")
        expect(card).to_contain_text("IPT session (50 min)")
        # Reminder and invoice status come from the notifier's and billing's events.
        expect(card.locator(".badge.reminder")).to_have_count(1, timeout=30_000)
        expect(card).to_contain_text("Invoice issued", timeout=30_000)
        # A change made elsewhere (the client confirmed) shows up by polling, without a reload.
        page.evaluate("window.notReloaded = true")
        token = requests.post(
            f"{desk.url}/api/v1/auth/token",
            json={"email": DEMO_LOGIN[0], "password": DEMO_LOGIN[1]},
            timeout=10,
        ).json()["access_token"]
        # Priya replies C by SMS (the sandbox plays it): nothing of hers is open to answer, so
        # it confirms her next session, this one - and the desk sees who confirmed it.
        confirmed = requests.post(
            f"{desk.url}/api/v1/sandbox/replies",
            headers={"Authorization": f"Bearer {token}"},
            json={"from": "+13125550188", "body": "C"},
            timeout=10,
        )
        assert confirmed.status_code == 201, confirmed.text
        expect(card).to_contain_text("Confirmed by client", timeout=30_000)
        assert page.evaluate("window.notReloaded") is True
        page.screenshot(path=str(ARTIFACTS / "day.png"))

        # Cancel it for the client: inside the 24-hour window, so the late fee applies.
        card.get_by_role("button", name="Cancel").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("the late-cancellation fee applies")
        # The demo practice's policy, from billing.
        expect(dialog.locator(".fee")).to_contain_text(re.compile(r"applies \(.+\)\."))
        dialog.get_by_label("The practice").check()
        expect(dialog).to_contain_text("No late-cancellation fee")
        dialog.get_by_label("The client").check()
        dialog.get_by_role("button", name="Cancel session").click()
        expect(dialog.locator(".error[role=alert]")).to_be_hidden()
        dialog.get_by_label("Reason").fill("Client is unwell")
        page.screenshot(path=str(ARTIFACTS / "cancel-dialog.png"))
        dialog.get_by_role("button", name="Cancel session").click()
        expect(dialog).to_be_hidden()
        expect(card).to_contain_text("Cancelled")
        expect(card).to_contain_text("Late cancellation")
        expect(card).to_contain_text("Reminders cancelled")
        expect(card.locator("button[data-action]:not([data-action=log])")).to_have_count(0)
        page.screenshot(path=str(ARTIFACTS / "day-cancelled.png"))

        # Reschedule the second session by a day, on the week view.
        second = first + timedelta(weeks=1)
        second_day, second_time = wall(second)
        page.goto(f"/week?date={second_day}")
        card = page.locator(f'.column[data-day="{second_day}"] article.appointment')
        expect(card).to_contain_text("Priya Natarajan")
        page.screenshot(path=str(ARTIFACTS / "week.png"))
        # The session's reminders and messages, from the notifier: "planned" until one of its
        # messages goes out. Whether a confirmation goes out at once depends on the hour where
        # the client is (quiet hours), so the expectation follows the notifier's own plan.
        expected = desk_reminder_status(desk, str(card.get_attribute("data-id")))
        expect(card).to_contain_text(expected, timeout=90_000)
        card.get_by_role("button", name="Messages").click()
        log = page.get_by_role("dialog")
        expect(log.locator("#log-reminders")).to_contain_text(re.compile(r"by (SMS|email) — "))
        page.screenshot(path=str(ARTIFACTS / "message-log.png"))
        log.get_by_role("button", name="Close").click()
        expect(log).to_be_hidden()
        card.get_by_role("button", name="Reschedule").click()
        dialog = page.get_by_role("dialog")
        moved_day, moved_time = wall(second + timedelta(days=1))
        dialog.get_by_label("New date").fill(moved_day)
        dialog.get_by_label("New time").fill(moved_time)
        dialog.get_by_role("button", name="Reschedule").click()
        expect(dialog).to_be_hidden()
        if moved_day in {c.get_attribute("data-day") for c in page.locator(".column").all()}:
            moved = page.locator(f'.column[data-day="{moved_day}"] article.appointment')
        else:
            page.goto(f"/week?date={moved_day}")
            moved = page.locator(f'.column[data-day="{moved_day}"] article.appointment')
        expect(moved).to_contain_text("Priya Natarajan")
        expect(moved).to_contain_text("Booked")

        # Checking in the third session two weeks early is refused, saying when check-in opens
        # (on the session's day, on the practice's clock); nothing changes.
        third_day, _ = wall(first + timedelta(weeks=2))
        page.goto(f"/day?date={third_day}")
        card = page.locator("article.appointment", has_text="Priya Natarajan")
        card.get_by_role("button", name="Check in").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Check in Priya Natarajan")
        dialog.get_by_role("button", name="Check in").click()
        expect(dialog).to_contain_text("Check-in for this session opens at")
        dialog.get_by_role("button", name="Go back").click()
        expect(card).to_contain_text("Booked")

        # Where it takes place: the desk gives it a video link, which the card then shows.
        card.get_by_role("button", name="Where").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Video join link (https)").fill("https://meet.example.com/r/priya")
        dialog.get_by_role("button", name="Save").click()
        expect(card.get_by_role("link", name="https://meet.example.com/r/priya")).to_be_visible()


@pytest.mark.clock  # runs again at the fixed instants of `make test`
def test_tablet_layout_and_api_errors_as_plain_messages(desk: Desk) -> None:
    with signed_in(desk, viewport={"width": 820, "height": 1180}) as page:
        page.goto("/week")
        expect(page.locator("#refreshed")).to_contain_text("updated")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 820, f"the week view overflows a tablet screen ({width}px)"
        page.screenshot(path=str(ARTIFACTS / "week-tablet.png"), full_page=True)
        # One practitioner's calendar.
        page.get_by_label("Practitioner").select_option(label="Sam Okafor, LCSW")
        expect(page).to_have_url(re.compile(r"practitioner=[0-9a-f-]+"))
        expect(page.locator("#practitioner-filter")).to_have_value(re.compile(r".+"))
        page.goto("/day" + page.url.split("/week", 1)[1])
        expect(page.locator(".column")).to_have_count(1)
        expect(page.locator(".column h2")).to_have_text("Sam Okafor, LCSW")

        # Free times for Dr. Rivera on a weekday at least two days ahead (her hours: 9-17).
        today = now().astimezone(PRACTICE_ZONE).date()
        free_day = next(
            today + timedelta(days=n)
            for n in range(2, 10)
            if (today + timedelta(days=n)).weekday() < 5
            and (today + timedelta(days=n)).weekday() != today.weekday()
        )
        page.goto("/book")
        page.get_by_label("Practitioner").select_option(label="Dr. Ana Rivera")
        page.get_by_label("Date").fill(free_day.isoformat())
        page.get_by_role("button", name="Show free times").click()
        slots = page.get_by_role("group", name=f"Free times on {free_day.isoformat()}")
        slots.get_by_role("button").first.click()
        expect(page.get_by_label("Start time")).to_have_value("09:00")
        # Booking in the past: the API's refusal appears next to the field, as plain words.
        page.goto("/book")
        page.get_by_label("Find a client by name, phone or email").fill("617")
        page.get_by_label("Jordan Lee").check()
        page.get_by_label("Date").fill("2020-01-06")
        page.get_by_label("Start time").fill("10:00")
        page.get_by_role("button", name="Review and book").click()
        page.get_by_role("dialog").get_by_role("button", name="Book").click()
        expect(page.locator('.field-error[data-field="starts_at"]')).to_have_text(
            "Must be in the future"
        )
        expect(page.locator("#book-form .error[role=alert]")).to_contain_text(
            "only be booked in the future"
        )
        assert "Traceback" not in page.content()
        page.screenshot(path=str(ARTIFACTS / "book-error-tablet.png"), full_page=True)


def test_client_inline_errors_create_edit_and_feed_link(desk: Desk) -> None:
    with signed_in(desk) as page:
        page.get_by_role("link", name="Clients").click()
        page.get_by_role("button", name="New client").click()
        long_first = "Maximiliana-Konstantina-Alexandra"
        long_last = "Wolfeschlegelsteinhausenbergerdorff-Lindqvist"
        page.get_by_label("First name").fill(long_first)
        page.get_by_label("Last name").fill(long_last)
        page.get_by_role("textbox", name="Email").fill("not-an-email")
        page.get_by_label("Mobile phone").fill("12")
        page.get_by_role("button", name="Add client").click()
        email_error = page.locator('.field-error[data-field="email"]')
        expect(email_error).to_contain_text("@-sign")
        expect(page.locator('.field-error[data-field="phone"]')).to_contain_text(
            "not a valid phone number"
        )
        expect(page.get_by_role("textbox", name="Email")).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_role("textbox", name="Email")).to_have_accessible_description(
            re.compile("@-sign")
        )
        assert "Value error" not in email_error.inner_text()
        page.screenshot(path=str(ARTIFACTS / "client-errors.png"), full_page=True)

        page.get_by_role("textbox", name="Email").fill("max@example.com")
        page.get_by_label("Mobile phone").fill("(617) 555-0199")
        page.get_by_role("button", name="Add client").click()
        expect(page.locator("#client-form-title")).to_have_text(f"Edit {long_first} {long_last}")
        expect(page.get_by_label("Mobile phone")).to_have_value("+16175550199")
        # A long name does not widen the page.
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280

        locale = page.get_by_label("Language and region for dates in messages")
        expect(locale).to_have_value("en_US")
        locale.fill("klingon")
        page.get_by_role("button", name="Save changes").click()
        expect(page.locator('.field-error[data-field="locale"]')).to_be_visible()
        page.get_by_label("Last name").fill("Lindqvist")
        locale.fill("es-us")
        page.get_by_role("button", name="Save changes").click()
        expect(page.locator("#client-form-title")).to_have_text(f"Edit {long_first} Lindqvist")
        expect(locale).to_have_value("es_US")

        feed = page.get_by_label("Feed URL")
        expect(feed).to_have_value(re.compile(rf"^{re.escape(desk.url)}/feeds/client/.+"))
        first_url = feed.input_value()
        assert requests.get(first_url, timeout=10).status_code == 200
        page.get_by_role("button", name="Rotate link").click()
        page.get_by_role("dialog").get_by_role("button", name="Rotate").click()
        expect(feed).not_to_have_value(first_url)
        assert requests.get(first_url, timeout=10).status_code == 404
        page.screenshot(path=str(ARTIFACTS / "client-edit.png"), full_page=True)

        # The new client can be found and booked from the booking page.
        page.get_by_role("link", name="Book for this client").click()
        expect(page.get_by_label(f"{long_first} Lindqvist")).to_be_checked()


def test_outstanding_balance_and_recording_a_payment(desk: Desk) -> None:
    token = requests.post(
        f"{desk.url}/api/v1/auth/token",
        json={"email": DEMO_LOGIN[0], "password": DEMO_LOGIN[1]},
        timeout=10,
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    starts = days_ahead(9, hour=10)
    clients = requests.get(f"{desk.url}/api/v1/clients", headers=bearer, timeout=10).json()
    marek = next(c for c in clients["items"] if c["last_name"] == "Nowak")
    booked = requests.post(
        f"{desk.url}/api/v1/appointments",
        headers=bearer,
        json={
            "client_id": marek["id"],
            "practitioner_id": next(
                p["id"]
                for p in requests.get(
                    f"{desk.url}/api/v1/practitioners", headers=bearer, timeout=10
                ).json()["items"]
                if p["display_name"].startswith("Sam")
            ),
            "service_type_id": next(
                s["id"]
                for s in requests.get(
                    f"{desk.url}/api/v1/service-types", headers=bearer, timeout=10
                ).json()["items"]
                if s["name"] == "IPT intake assessment"
            ),
            "starts_at": starts.isoformat(),
        },
        timeout=10,
    )
    assert booked.status_code == 201, booked.text
    with signed_in(desk) as page:
        page.get_by_role("link", name="Balances").click()
        row = page.locator("tr", has_text="Marek Nowak")
        expect(row).to_have_count(1, timeout=30_000)
        expect(row.locator(".balance")).to_have_text("$220.00")
        page.screenshot(path=str(ARTIFACTS / "balances.png"))
        row.get_by_role("button", name="Record payment").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_label("Amount (USD)")).to_have_value("220.00")
        dialog.get_by_label("Amount (USD)").fill("0")
        dialog.get_by_role("button", name="Record payment").click()
        expect(dialog.locator('.field-error[data-field="amount_minor"]')).to_be_visible()
        dialog.get_by_label("Amount (USD)").fill("50")
        dialog.get_by_label("Method").select_option("cash")
        dialog.get_by_label("Reference (optional)").fill("receipt 17")
        page.screenshot(path=str(ARTIFACTS / "payment-dialog.png"))
        dialog.get_by_role("button", name="Record payment").click()
        expect(dialog).to_be_hidden()
        expect(row.locator(".balance")).to_have_text("$170.00")
        # A client is found by name, and what they owe is aged.
        page.get_by_label("Find a client").fill("zzz")
        expect(page.locator("#balances")).to_contain_text("No client with that name owes anything.")
        page.get_by_label("Find a client").fill("nowak")
        expect(row).to_have_count(1)
        expect(page.locator("#aging")).to_contain_text("0–30 days: $170.00")
    payments = requests.get(
        f"{desk.url}/api/v1/payments", headers=bearer, params={"client_id": marek["id"]}, timeout=10
    ).json()["items"]
    assert [(p["amount_minor"], p["method"]) for p in payments] == [(5000, "cash")]


def test_desk_inbox_and_sandbox_outbox(desk: Desk) -> None:
    with signed_in(desk) as page:
        page.get_by_role("link", name="Messages").click()
        expect(page.locator("#sandbox")).not_to_be_empty()
        # A client's SMS reply that needs a person lands in the desk inbox.
        page.get_by_label("From (phone)").fill("+16175550123")
        page.get_by_label("Message").fill("Could someone please call me back about parking?")
        page.get_by_role("button", name="Send reply").click()
        item = page.locator("#inbox .message", has_text="call me back about parking")
        expect(item).to_contain_text("Jordan Lee")
        page.screenshot(path=str(ARTIFACTS / "messages.png"), full_page=True)
        item.get_by_role("button", name=re.compile("Mark handled")).click()
        expect(item).to_have_count(0)
        # A bad sender number comes back as a message next to the field.
        page.get_by_label("From (phone)").fill("x")
        page.get_by_label("Message").fill("hello")
        page.get_by_role("button", name="Send reply").click()
        expect(page.locator("#reply-form .error[role=alert]")).to_be_visible()


def test_an_admin_copies_and_rotates_a_practitioner_feed(desk: Desk) -> None:
    with signed_in(desk, DEMO_ADMIN, permissions=["clipboard-read", "clipboard-write"]) as page:
        page.get_by_role("link", name="Clients").click()
        feeds = page.get_by_role("region", name="Practitioners' calendar feeds")
        item = feeds.locator("li", has_text="Dr. Ana Rivera")
        item.get_by_role("button", name="Copy link").click()
        url = item.get_by_label("Dr. Ana Rivera")
        expect(url).to_have_value(re.compile(rf"^{re.escape(desk.url)}/feeds/practitioner/.+"))
        first = url.input_value()
        assert page.evaluate("navigator.clipboard.readText()") == first
        assert requests.get(first, timeout=10).status_code == 200
        item.get_by_role("button", name="Rotate link").click()
        page.get_by_role("dialog").get_by_role("button", name="Rotate").click()
        expect(url).not_to_have_value(first)
        assert requests.get(first, timeout=10).status_code == 404
        page.screenshot(path=str(ARTIFACTS / "practitioner-feeds.png"), full_page=True)
    # The front desk does not see practitioners' feeds.
    with signed_in(desk) as page:
        page.goto("/clients")
        expect(page.locator(".practitioner-feeds")).to_have_count(0)
