"""The front-desk UI in a real browser (Debian's Chromium through Playwright) against every
service's gunicorn web and worker as real processes, behind a loopback gateway on one origin."""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright
from sqlalchemy import create_engine, insert

from services.scheduler.demo import DEMO_ADMIN, DEMO_LOGIN
from services.scheduler.tables import Client
from shared.config import SERVICES
from shared.demo import demo_id
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
PRIYA_ZONE = ZoneInfo("America/Chicago")  # a demo client's zone
COLUMN_HEADS = "#calendar .ec-header .ec-col-head"  # the time grid's column headings


@dataclass
class Desk:
    url: str
    browser: Browser
    databases: dict[str, str]

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
    with fresh_vhost() as broker, fresh_databases(migrated=True) as databases:
        processes = Processes(
            service_env(broker, databases, RAPPORT_PUBLIC_URL=public_url),
            tmp_path_factory.mktemp("ui-logs"),
        )
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
                    yield Desk(public_url, browser, databases)
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
    # Let the day page's deferred scripts load before a test navigates on: leaving mid-load
    # can cancel common.js while a page script behind it still runs ("Rapport is not defined").
    page.wait_for_load_state("load")


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


def column_header(day: str) -> str:
    """A week view's column heading for an ISO date, e.g. "Wed, Dec 9"."""
    return date.fromisoformat(day).strftime("%a, %b %-d")


def column_of(page: Page, card: Locator) -> str:
    """The heading of the grid column a session's card sits in (by where it is drawn)."""
    box = None
    for _ in range(50):  # the grid redraws its cards when a refresh brings news
        expect(card).to_be_visible()
        box = card.bounding_box()
        if box is not None:
            break
        page.wait_for_timeout(100)
    assert box is not None
    middle = box["x"] + box["width"] / 2
    for header in page.locator(COLUMN_HEADS).all():
        head = header.bounding_box()
        if head and head["x"] <= middle < head["x"] + head["width"]:
            return header.inner_text().strip()
    raise AssertionError(f"no column under the card at x={middle}")


def in_column(page: Page, cards: Locator, heading: str) -> Locator:
    """The one card among ``cards`` drawn in the column headed ``heading``."""
    found = [card for card in cards.all() if column_of(page, card) == heading]
    assert len(found) == 1, f"{len(found)} cards under {heading}"
    return found[0]


def open_from_card(page: Page, button: Locator) -> Locator:
    """Press a calendar card's button that opens a dialog, and return the dialog. The grid
    redraws its cards when the calendar refreshes (every 10 s, and right after a change shows):
    a press that lands while the cards are being replaced reaches no button and opens nothing,
    and a person would press again, so the test does too (at most three times)."""
    dialog = page.get_by_role("dialog")
    for _ in range(2):
        button.click()
        try:
            expect(dialog).to_be_visible(timeout=3_000)
            return dialog
        except AssertionError:
            continue
    button.click()
    expect(dialog).to_be_visible()
    return dialog


def wall(instant: datetime) -> tuple[str, str]:
    local = instant.astimezone(PRACTICE_ZONE)
    return local.date().isoformat(), local.strftime("%H:%M")


def test_sign_in_failure_then_success_sets_a_strict_http_only_secure_cookie(desk: Desk) -> None:
    context = desk.context()
    page = context.new_page()
    page.goto("/")
    # Signed out, a page sends the desk to sign in and back to it afterwards.
    expect(page).to_have_url(f"{desk.url}/sign-in?next=%2Fday")
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
    expect(page).to_have_url(f"{desk.url}/sign-in?next=%2Fweek")
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
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Book").click()
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
        dialog = open_from_card(page, card.get_by_role("button", name="Cancel"))
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
        priya = page.locator("article.appointment", has_text="Priya Natarajan")
        expect(priya.first).to_be_visible()
        card = in_column(page, priya, column_header(second_day))
        page.screenshot(path=str(ARTIFACTS / "week.png"))
        # The session's reminders and messages, from the notifier: "planned" until one of its
        # messages goes out. Whether a confirmation goes out at once depends on the hour where
        # the client is (quiet hours), so the expectation follows the notifier's own plan.
        expected = desk_reminder_status(desk, str(card.get_attribute("data-id")))
        expect(card).to_contain_text(expected, timeout=90_000)
        log = open_from_card(page, card.get_by_role("button", name="Messages"))
        expect(log.locator("#log-reminders")).to_contain_text(re.compile(r"by (SMS|email) — "))
        page.screenshot(path=str(ARTIFACTS / "message-log.png"))
        log.get_by_role("button", name="Close").click()
        expect(log).to_be_hidden()
        dialog = open_from_card(page, card.get_by_role("button", name="Reschedule"))
        moved_day, moved_time = wall(second + timedelta(days=1))
        dialog.get_by_label("New date").fill(moved_day)
        dialog.get_by_label("New time").fill(moved_time)
        dialog.get_by_role("button", name="Reschedule").click()
        expect(dialog).to_be_hidden()
        page.goto(f"/week?date={moved_day}")
        priya = page.locator("article.appointment", has_text="Priya Natarajan")
        expect(priya.first).to_be_visible()
        moved = in_column(page, priya, column_header(moved_day))
        expect(moved).to_contain_text("Booked")

        # Checking in the third session two weeks early is refused, saying when check-in opens
        # (on the session's day, on the practice's clock); nothing changes.
        third_day, _ = wall(first + timedelta(weeks=2))
        page.goto(f"/day?date={third_day}")
        card = page.locator("article.appointment", has_text="Priya Natarajan")
        dialog = open_from_card(page, card.get_by_role("button", name="Check in"))
        expect(dialog).to_contain_text("Check in Priya Natarajan")
        dialog.get_by_role("button", name="Check in").click()
        expect(dialog).to_contain_text("Check-in for this session opens at")
        dialog.get_by_role("button", name="Go back").click()
        expect(card).to_contain_text("Booked")

        # Where it takes place: the desk gives it a video link, which the card then shows.
        dialog = open_from_card(page, card.get_by_role("button", name="Where"))
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
        columns = page.locator(COLUMN_HEADS)
        expect(columns).to_have_count(1)
        expect(columns).to_have_text("Sam Okafor, LCSW")

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
        # The buttons work once the page's script has run: a click before that does nothing.
        page.wait_for_url(re.compile(r"/clients"))
        page.wait_for_load_state("load")
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


# -- the calendar as a time grid ------------------------------------------------------------

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
SLOT_PX = 26  # the grid's 15-minute row, in pixels (calendar.js)
PAGES = (
    "/day",
    "/week",
    "/book",
    "/clients",
    f"/clients/{demo_id('client-jordan')}",
    "/balances",
    "/messages",
    "/waitlist",
)


class Api:
    """The scheduler API with the desk's bearer token, for arranging what a test shows."""

    def __init__(self, desk: Desk) -> None:
        self.url = desk.url
        token = requests.post(
            f"{desk.url}/api/v1/auth/token",
            json={"email": DEMO_LOGIN[0], "password": DEMO_LOGIN[1]},
            timeout=10,
        ).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params: object) -> requests.Response:
        return requests.get(self.url + path, headers=self.headers, params=params, timeout=10)  # type: ignore[arg-type]

    def post(self, path: str, body: dict[str, object]) -> requests.Response:
        return requests.post(self.url + path, headers=self.headers, json=body, timeout=10)

    def named(self, path: str, field: str, name: str) -> str:
        return next(x["id"] for x in self.get(path).json()["items"] if x[field] == name)

    def client(self, first: str, last: str) -> str:
        response = self.post(
            "/api/v1/clients",
            {"first_name": first, "last_name": last, "time_zone": "America/New_York"},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def book(self, client: str, practitioner: str, service: str, starts: datetime) -> str:
        response = self.post(
            "/api/v1/appointments",
            {
                "client_id": client,
                "practitioner_id": self.named(
                    "/api/v1/practitioners", "display_name", practitioner
                ),
                "service_type_id": self.named("/api/v1/service-types", "name", service),
                "starts_at": starts.isoformat(),
            },
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def starts(self, appointment_id: str) -> datetime:
        body = self.get(f"/api/v1/appointments/{appointment_id}").json()
        return datetime.fromisoformat(body["starts_at"])


def ahead(weekdays: tuple[int, ...], later_than: date | None = None) -> date:
    """The first day 2–8 days ahead in the practice's zone on one of ``weekdays`` (Monday 0):
    never today's or tomorrow's weekday, which the course test above books."""
    start = now().astimezone(PRACTICE_ZONE).date()
    return next(
        start + timedelta(days=n)
        for n in range(2, 9)
        if (start + timedelta(days=n)).weekday() in weekdays
        and (later_than is None or start + timedelta(days=n) > later_than)
    )


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, dt_time(hour, minute), PRACTICE_ZONE)


def card_for(page: Page, name: str, time: str) -> Locator:
    return page.locator("article.appointment", has_text=name).filter(has_text=time)


def label_y(page: Page, label: str) -> float:
    """Where the grid's row line for an hour label ("2:00 PM") is drawn, scrolled into view."""
    row = page.locator(".ec-body .ec-sidebar time", has_text=re.compile(f"^{label}$"))
    row.evaluate("node => node.scrollIntoView({block: 'center'})")
    box = row.bounding_box()
    assert box is not None, f"no {label} row"
    return box["y"] + box["height"] / 2


def drag(page: Page, card: Locator, to_x: float, to_line: float) -> None:
    """Drags a card by its time so that its top lands on the grid line ``to_line``."""
    top = card.bounding_box()
    box = card.locator(".when").bounding_box()
    assert top is not None and box is not None
    grab_x, grab_y = box["x"] + 8, box["y"] + box["height"] / 2
    page.mouse.move(grab_x, grab_y)
    page.mouse.down()
    page.mouse.move(grab_x + 12, grab_y + 10, steps=4)
    # The grid moves a session by how far the pointer went, rounded down to a quarter-hour.
    page.mouse.move(to_x, to_line + (grab_y - top["y"]) + 4, steps=12)
    page.mouse.up()


def header_middle(page: Page, name: str) -> float:
    headers = page.locator(COLUMN_HEADS)
    box = headers.filter(has_text=re.compile(f"^{re.escape(name)}$")).bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2


def tab_to(page: Page, target: Locator, limit: int = 120) -> None:
    """Presses Tab (only the keyboard) until ``target`` has the focus."""
    for _ in range(limit):
        if target.evaluate("node => node === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {target}")


def axe_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document)).violations"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )
    return list(found)


@pytest.mark.clock  # runs again at the fixed instants of `make test`
def test_day_and_week_are_a_time_grid_with_shaded_hours_and_colours(desk: Desk) -> None:
    api = Api(desk)
    day = ahead((0, 1, 2, 3))  # both practitioners work Monday to Thursday
    client = api.client("Gita", "Gridley")
    api.book(client, "Dr. Ana Rivera", "IPT session (50 min)", at(day, 11))
    api.book(client, "Sam Okafor, LCSW", "Phone check-in", at(day, 13))
    with signed_in(desk) as page:
        page.goto(f"/day?date={day}")
        columns = page.locator(COLUMN_HEADS)
        expect(columns).to_have_text(["Dr. Ana Rivera", "Sam Okafor, LCSW"])
        rivera = card_for(page, "Gita Gridley", "11:00 AM")
        sam = card_for(page, "Gita Gridley", "1:00 PM")
        expect(rivera).to_have_count(1)
        assert column_of(page, rivera) == "Dr. Ana Rivera"
        assert column_of(page, sam) == "Sam Okafor, LCSW"
        # 15-minute rows: a 50-minute session spans 50/15 rows and starts on its hour's line.
        event = page.locator(".ec-event", has=rivera)
        line = label_y(page, "11:00 AM")  # scrolls the grid there first
        box = event.bounding_box()
        assert box is not None
        assert abs(box["height"] - 50 / 15 * SLOT_PX) <= 3, box
        assert abs(box["y"] - line) <= 3, (box, line)
        # Every card keeps its statuses and its actions.
        expect(rivera).to_contain_text("Booked")
        expect(rivera.locator(".badge.reminder")).to_have_count(1, timeout=30_000)
        expect(rivera).to_contain_text("Invoice issued", timeout=30_000)
        for action in ("Check in", "Reschedule", "Cancel", "Messages"):
            expect(rivera.get_by_role("button", name=action)).to_have_count(1)
        # Colour by status, the practitioner's colour on the left edge.
        style = "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).borderLeftColor]"
        rivera_colours = event.evaluate(style)
        sam_colours = page.locator(".ec-event", has=sam).evaluate(style)
        assert rivera_colours[0] == sam_colours[0]  # both booked
        assert rivera_colours[1] != sam_colours[1]  # two practitioners
        # Outside working hours is shaded, per practitioner (Sam starts at 10 in Chicago).
        assert page.locator(".ec-bg-event.off-hours").count() >= 4
        page.screenshot(path=str(ARTIFACTS / "grid-day.png"))

        page.goto(f"/week?date={day}")
        expect(page.locator(COLUMN_HEADS)).to_have_count(7)
        rivera = card_for(page, "Gita Gridley", "11:00 AM")
        assert column_of(page, rivera) == column_header(day.isoformat())
        page.screenshot(path=str(ARTIFACTS / "grid-week.png"))

        # An empty day says so and offers to book one there.
        empty = (now() + timedelta(days=300)).astimezone(PRACTICE_ZONE).date()
        page.goto(f"/day?date={empty}")
        expect(page.locator("#calendar-empty")).to_contain_text("No sessions this day")
        expect(page.get_by_role("link", name="Book one")).to_have_attribute(
            "href", f"/book?date={empty}"
        )
        page.screenshot(path=str(ARTIFACTS / "grid-empty.png"))

        # Today: a line at the application clock's time, when the grid shows that hour.
        page.goto("/day")
        expect(page.locator("#refreshed")).to_contain_text("updated")
        local = now().astimezone(PRACTICE_ZONE)
        if 7 <= local.hour < 21:
            expect(page.locator(".now-line")).to_have_count(1)
            hour_line = label_y(page, datetime(2000, 1, 1, local.hour).strftime("%-I:00 %p"))
            box = page.locator(".now-line").bounding_box()
            grid = page.locator("#calendar .ec-body").bounding_box()
            assert box is not None and grid is not None
            assert abs(box["y"] - (hour_line + local.minute / 15 * SLOT_PX)) <= 4, box
            assert grid["x"] < box["x"] and box["x"] + box["width"] <= grid["x"] + grid["width"]
            page.screenshot(path=str(ARTIFACTS / "grid-now-line.png"))


@pytest.mark.clock  # runs again at the fixed instants of `make test`
def test_book_a_free_slot_by_click_and_by_keyboard_then_move_it_by_keyboard(desk: Desk) -> None:
    api = Api(desk)
    day = ahead((0, 1, 2, 3))
    rivera = api.named("/api/v1/practitioners", "display_name", "Dr. Ana Rivera")
    api.client("Kim", "Keyes")
    with signed_in(desk) as page:
        page.goto(f"/day?date={day}&practitioner={rivera}")
        expect(page.locator("#refreshed")).to_contain_text("updated")
        # Click the free quarter-hour below the 2 PM line: booking opens with it filled in.
        x, y = header_middle(page, "Dr. Ana Rivera"), label_y(page, "2:00 PM") + SLOT_PX / 2
        page.mouse.click(x, y)
        expect(page).to_have_url(re.compile(r"/book\?"))
        expect(page.get_by_label("Date")).to_have_value(day.isoformat())
        expect(page.get_by_label("Start time")).to_have_value("14:00")
        expect(page.get_by_label("Practitioner")).to_have_value(rivera)
        page.get_by_label("Find a client by name, phone or email").fill("Keyes")
        page.get_by_label("Kim Keyes").check()
        page.get_by_label("Service type").select_option(label="IPT session (50 min)")
        page.screenshot(path=str(ARTIFACTS / "book-from-slot.png"))
        page.get_by_role("button", name="Review and book").click()
        page.get_by_role("dialog").get_by_role("button", name="Book").click()
        expect(page.locator("#booked")).to_contain_text("Booked 1 session for Kim Keyes")

        # Only the keyboard: "b" from the calendar opens booking on its date and practitioner
        # with the free times listed; Tab and Enter book one.
        page.goto(f"/day?date={day}&practitioner={rivera}")
        expect(page.locator("#refreshed")).to_contain_text("updated")
        page.keyboard.press("b")
        expect(page).to_have_url(re.compile(r"/book\?"))
        slots = page.get_by_role("group", name=f"Free times on {day}")
        last = slots.get_by_role("button").last
        expect(last).to_be_visible()
        chosen = last.inner_text().rsplit(" ", 2)
        tab_to(page, page.get_by_label("Find a client by name, phone or email"))
        page.keyboard.type("Keyes")
        radio = page.get_by_label("Kim Keyes")
        expect(radio).to_be_visible()
        tab_to(page, radio)
        page.keyboard.press("Space")
        expect(radio).to_be_checked()
        tab_to(page, last)
        page.keyboard.press("Enter")
        tab_to(page, page.get_by_role("button", name="Review and book"))
        page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog")
        tab_to(page, dialog.get_by_role("button", name="Book"))
        page.keyboard.press("Enter")
        expect(page.locator("#booked")).to_contain_text("Booked 1 session for Kim Keyes")
        page.goto(f"/day?date={day}&practitioner={rivera}")
        expect(card_for(page, "Kim Keyes", " ".join(chosen[-2:]))).to_have_count(1)

        # Or choose the free time on the grid itself: focus it, arrows, Enter.
        page.goto(f"/day?date={day}&practitioner={rivera}")
        expect(page.locator("#refreshed")).to_contain_text("updated")
        tab_to(page, page.locator("#calendar .ec-main"))
        for _ in range(4 * 3 + 2):  # from 9:00 to 12:30
            page.keyboard.press("ArrowDown")
        expect(page.locator("#slot-status")).to_contain_text(
            "12:30 PM, Dr. Ana Rivera: press Enter"
        )
        line = label_y(page, "12:00 PM")
        cursor = page.locator(".slot-cursor").bounding_box()
        assert cursor is not None and abs(cursor["y"] - (line + 2 * SLOT_PX)) <= 3, cursor
        page.screenshot(path=str(ARTIFACTS / "keyboard-slot.png"))
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/book\?"))
        expect(page.get_by_label("Start time")).to_have_value("12:30")
        expect(page.get_by_label("Date")).to_have_value(day.isoformat())
        page.goto(f"/day?date={day}&practitioner={rivera}")

        # Move the 2 PM session a quarter-hour later with Alt+Down, confirmed in the dialog.
        card = card_for(page, "Kim Keyes", "2:00 PM")
        appointment = card.get_attribute("data-id")
        assert appointment
        tab_to(page, card)
        page.keyboard.press("Alt+ArrowDown")
        dialog = page.get_by_role("dialog", name="Reschedule session")
        expect(dialog.get_by_label("New time")).to_have_value("14:15")
        page.screenshot(path=str(ARTIFACTS / "keyboard-move.png"))
        tab_to(page, dialog.get_by_role("button", name="Reschedule"))
        page.keyboard.press("Enter")
        expect(dialog).to_be_hidden()
        expect(card_for(page, "Kim Keyes", "2:15 PM")).to_have_count(1)
        assert api.starts(appointment) == at(day, 14, 15)


@pytest.mark.clock  # runs again at the fixed instants of `make test`
def test_drag_a_course_session_this_session_then_rest_of_course_and_onto_a_busy_slot(
    desk: Desk,
) -> None:
    api = Api(desk)
    monday = ahead((0, 1))  # three working days for Sam in its week
    client = api.client("Dora", "Dragwell")
    course = api.post(
        "/api/v1/courses",
        {
            "client_id": client,
            "practitioner_id": api.named(
                "/api/v1/practitioners", "display_name", "Sam Okafor, LCSW"
            ),
            "service_type_id": api.named("/api/v1/service-types", "name", "IPT session (50 min)"),
            "first_starts_at": at(monday, 16).isoformat(),
            "sessions": 4,
        },
    )
    assert course.status_code == 201, course.text
    sessions = [a["id"] for a in course.json()["booked"]]
    busy = api.client("Bea", "Busy")
    api.book(busy, "Sam Okafor, LCSW", "IPT session (50 min)", at(monday + timedelta(days=2), 16))
    tuesday = monday + timedelta(days=1)
    with signed_in(desk) as page:
        # The first session, dragged a day later: "only this session".
        page.goto(f"/week?date={monday}")
        card = card_for(page, "Dora Dragwell", "4:00 PM")
        expect(card).to_have_count(1)
        drag(
            page,
            card,
            header_middle(page, column_header(tuesday.isoformat())),
            label_y(page, "4:00 PM"),
        )
        dialog = page.get_by_role("dialog", name="Reschedule session")
        expect(dialog.get_by_label("New date")).to_have_value(tuesday.isoformat())
        expect(dialog.get_by_label("New time")).to_have_value("16:00")
        expect(dialog.get_by_role("group", name="Which sessions?")).to_be_visible()
        dialog.get_by_label("Only this session").check()
        page.screenshot(path=str(ARTIFACTS / "drag-course-dialog.png"))
        dialog.get_by_role("button", name="Reschedule").click()
        expect(dialog).to_be_hidden()
        expect(card).to_have_count(1)
        assert column_of(page, card) == column_header(tuesday.isoformat())
        assert [api.starts(s) for s in sessions] == [
            at(tuesday, 16),
            *(at(monday + timedelta(weeks=n), 16) for n in (1, 2, 3)),
        ]

        # Onto Bea's session: refused with the reason, and the card goes back.
        drag(
            page,
            card,
            header_middle(page, column_header((monday + timedelta(days=2)).isoformat())),
            label_y(page, "4:00 PM"),
        )
        dialog = page.get_by_role("dialog", name="Reschedule session")
        dialog.get_by_role("button", name="Reschedule").click()
        expect(dialog.locator(".error[role=alert]")).to_contain_text(
            "practitioner already has a session"
        )
        page.screenshot(path=str(ARTIFACTS / "drag-busy-refused.png"))
        dialog.get_by_role("button", name="Go back").click()
        expect(dialog).to_be_hidden()
        assert column_of(page, card) == column_header(tuesday.isoformat())
        assert api.starts(sessions[0]) == at(tuesday, 16)

        # The second session and the rest of the course, a day later.
        page.goto(f"/week?date={monday + timedelta(weeks=1)}")
        card = card_for(page, "Dora Dragwell", "4:00 PM")
        drag(
            page,
            card,
            header_middle(page, column_header((tuesday + timedelta(weeks=1)).isoformat())),
            label_y(page, "4:00 PM"),
        )
        dialog = page.get_by_role("dialog", name="Reschedule session")
        dialog.get_by_label("This and the rest of the course").check()
        dialog.get_by_role("button", name="Reschedule").click()
        expect(dialog).to_be_hidden()
        assert [api.starts(s) for s in sessions] == [
            at(tuesday + timedelta(weeks=n), 16) for n in range(4)
        ]
        page.screenshot(path=str(ARTIFACTS / "drag-rest-of-course.png"))


@pytest.mark.clock  # the agenda shows this week's sessions, whatever the instant
def test_every_page_fits_a_phone_and_axe_finds_no_violations(desk: Desk) -> None:
    # The pages' CSP forbids inline scripts, Playwright's way of adding axe; the test bypasses it.
    context = desk.context(bypass_csp=True)
    page = context.new_page()
    page.goto("/sign-in")
    assert axe_violations(page) == [], "sign-in"
    context.close()
    for viewport in ({"width": 1280, "height": 800}, {"width": 390, "height": 844}):
        with signed_in(desk, viewport=viewport, bypass_csp=True) as page:
            for path in PAGES:
                page.goto(path)
                page.wait_for_load_state("networkidle")
                kind = "client" if path.count("/") > 1 else path.strip("/")
                name = f"{kind}-{viewport['width']}"
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= viewport["width"], f"{name} scrolls sideways ({width}px)"
                assert axe_violations(page) == [], name
                if viewport["width"] == 390:
                    page.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True)
            # On a phone the calendar is a one-column agenda, and the help dialog fits too.
            page.goto("/week")
            expect(page.locator("#refreshed")).to_contain_text("updated")
            agenda = page.locator("#calendar .ec-list")
            expect(agenda).to_have_count(1 if viewport["width"] == 390 else 0)
            page.keyboard.press("?")
            help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
            expect(help_dialog).to_contain_text("New booking")
            assert axe_violations(page) == [], "shortcuts dialog"
            page.screenshot(path=str(ARTIFACTS / f"shortcuts-{viewport['width']}.png"))
            page.keyboard.press("Escape")
            expect(help_dialog).to_be_hidden()


def test_client_search_with_5000_clients_answers_from_the_api_page_by_page(desk: Desk) -> None:
    engine = create_engine(desk.databases["scheduler"])
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(Client.__table__),
                [
                    {
                        "id": f"00000000-0000-4000-9000-{n:012d}",
                        "revision": 1,
                        "first_name": "Quinn",
                        "last_name": f"Zephyr {n:04d}",
                        "email": f"quinn.zephyr{n}@example.com",
                        "phone": f"+1212555{n:04d}",
                        "time_zone": "America/New_York",
                        "locale": "en_US",
                        "preferred_channels": "sms,email",
                        "sms_consent": False,
                        "email_consent": False,
                        "active": True,
                        "created_at": now(),
                    }
                    for n in range(5000)
                ],
            )
    finally:
        engine.dispose()
    api = Api(desk)
    seen, cursor, pages = [], None, 0
    while True:
        page = api.get(
            "/api/v1/clients", q="zephyr", limit=500, **({"cursor": cursor} if cursor else {})
        )
        assert page.status_code == 200, page.text
        pages += 1
        seen += [c["id"] for c in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert pages == 10 and len(set(seen)) == 5000
    with signed_in(desk) as page:
        # No page ships the client list any more.
        assert "zephyr" not in page.content().lower()
        requests_seen: list[str] = []
        page.on("request", lambda r: requests_seen.append(r.url))
        expect(page.locator("#refreshed")).to_contain_text("updated")  # the page is ready
        page.keyboard.press("/")
        expect(page.get_by_role("searchbox", name=re.compile("Search clients"))).to_be_focused()
        page.keyboard.type("zephyr 00")
        results = page.get_by_role("list", name="Search results")
        expect(results.locator("li.hit")).to_have_count(8)
        expect(results.locator("li.hit").first).to_contain_text("Quinn Zephyr 0000")
        results.get_by_role("button", name="More results").click()
        expect(results.locator("li.hit")).to_have_count(16)
        expect(results.locator("li.hit").last).to_contain_text("Quinn Zephyr 0015")
        page.screenshot(path=str(ARTIFACTS / "search-5000.png"))
        assert any("/api/v1/search?" in u and "cursor=" in u for u in requests_seen)
        # The clients page reads the list a page at a time too.
        page.goto("/clients")
        people = page.get_by_role("list", name="Clients")
        expect(people.get_by_role("button", name="More clients")).to_be_visible()
        expect(people.locator("li:not(.more)")).to_have_count(25)
        people.get_by_role("button", name="More clients").click()
        expect(people.locator("li:not(.more)")).to_have_count(50)


def _claims(token: str) -> dict[str, object]:
    """A session token's claims, read without checking its signature (the server does that)."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_an_ending_session_warns_extends_and_signing_in_again_returns_to_the_page(
    desk: Desk,
) -> None:
    with signed_in(desk) as page:
        page.clock.install()  # the browser's clock, run forward below; the server's stays
        page.goto("/clients")
        page.get_by_role("button", name="New client").click()
        page.get_by_label("First name").fill("Half")
        before = next(c for c in page.context.cookies() if c["name"] == "rapport_session")
        # Five minutes before the practice's 30-minute idle timeout, the desk is warned over its
        # work (the server's clock stays, so a quiet renewal for the clicks above still ends
        # within five minutes of the browser's clock run forward).
        page.clock.fast_forward("00:26:00")
        warning = page.get_by_role("dialog", name="Your session is ending")
        expect(warning).to_contain_text("you will be signed out at")
        page.screenshot(path=str(ARTIFACTS / "session-ending.png"))
        with page.expect_response(
            lambda r: r.url.endswith("/session/extend") and r.request.method == "POST"
        ) as extended:
            warning.get_by_role("button", name="Stay signed in").click()
        expect(warning).to_be_hidden()
        expect(page.locator("#toast")).to_contain_text("You stay signed in until")
        # The session was renewed: a new cookie from now, in the same session (a renewal within
        # the second of the sign-in is the same token, so compare the claims, not the bytes).
        assert extended.value.status == 200
        assert "rapport_session=" in (extended.value.header_value("set-cookie") or "")
        after = next(c for c in page.context.cookies() if c["name"] == "rapport_session")
        before_claims, after_claims = _claims(before["value"]), _claims(after["value"])
        assert after_claims["sid"] == before_claims["sid"]
        assert after_claims["exp"] >= before_claims["exp"]
        assert after["expires"] >= before["expires"]
        # Nothing typed was lost, and the renewed session's CSRF token works.
        expect(page.get_by_label("First name")).to_have_value("Half")
        page.get_by_label("Last name").fill("Typed")
        page.get_by_role("button", name="Add client").click()
        expect(page.locator("#client-form-title")).to_have_text("Edit Half Typed")

        # Signed out meanwhile: signing in again lands on the page that was asked for.
        page.context.clear_cookies()
        day = ahead((0, 1, 2, 3))
        page.goto(f"/week?date={day}")
        expect(page).to_have_url(re.compile(r"/sign-in\?next="))
        page.get_by_label("Email").fill(DEMO_LOGIN[0])
        page.get_by_label("Password").fill(DEMO_LOGIN[1])
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{desk.url}/week?date={day}")
        # Only pages of this site: anything else goes to the day view. (Leave the calendar
        # first: its next refresh, refused, would itself go to sign in and back to it.)
        page.goto("about:blank")
        page.context.clear_cookies()
        page.goto("/sign-in?next=//elsewhere.example/")
        page.get_by_label("Email").fill(DEMO_LOGIN[0])
        page.get_by_label("Password").fill(DEMO_LOGIN[1])
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{desk.url}/day")


@pytest.mark.clock  # upcoming and past are the application clock's
def test_a_clients_page_shows_sessions_charges_messages_and_feed(desk: Desk) -> None:
    api = Api(desk)
    client = api.client("Carla", "Pagewood")
    day = ahead((0, 1, 2, 3))
    api.book(client, "Sam Okafor, LCSW", "IPT intake assessment", at(day, 17))
    with signed_in(desk) as page:
        page.goto(f"/clients/{client}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Carla Pagewood")
        upcoming = page.locator("#upcoming")
        expect(upcoming).to_contain_text("5:00 PM")
        expect(upcoming).to_contain_text("IPT intake assessment with Sam Okafor, LCSW")
        expect(page.locator("#past")).to_contain_text("No past sessions.")
        # Billing invoices the booking: the charge for the coming session and the balance.
        expect(page.locator("#charges")).to_contain_text("for an upcoming session", timeout=30_000)
        page.reload()
        expect(page.locator("#balance")).to_contain_text("Balance: $")
        expect(page.get_by_label(re.compile("Feed URL"))).to_have_value(
            re.compile(rf"^{re.escape(desk.url)}/feeds/client/.+")
        )
        expect(page.locator("#client-messages")).not_to_contain_text("Loading")
        page.screenshot(path=str(ARTIFACTS / "client-page.png"), full_page=True)
        # From the calendar, a session's client name leads here.
        page.goto(f"/day?date={day}")
        page.locator("article.appointment", has_text="Carla Pagewood").get_by_role(
            "link", name="Carla Pagewood"
        ).click()
        expect(page).to_have_url(f"{desk.url}/clients/{client}")
        missing = page.goto("/clients/no-such-client")
        assert missing is not None and missing.status == 404
        expect(page.get_by_role("alert")).to_have_text("There is no such client.")


def test_a_deactivated_account_cannot_extend_its_session(desk: Desk) -> None:
    token = requests.post(
        f"{desk.url}/api/v1/auth/token",
        json={"email": DEMO_ADMIN[0], "password": DEMO_ADMIN[1]},
        timeout=10,
    ).json()["access_token"]
    admin = {"Authorization": f"Bearer {token}"}
    login = ("leaving@harbourstreet.example", "leaving-desk-password")
    created = requests.post(
        f"{desk.url}/api/v1/staff",
        headers=admin,
        json={
            "email": login[0],
            "name": "Leaving Desk",
            "role": "front_desk",
            "password": login[1],
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    with signed_in(desk, login) as page:
        extend = (
            "() => fetch('/session/extend', {method: 'POST', headers: {'X-CSRF-Token':"
            " document.querySelector('meta[name=csrf-token]').content}}).then(r => r.status)"
        )
        assert page.evaluate(extend) == 200
        deactivated = requests.post(
            f"{desk.url}/api/v1/staff/{created.json()['id']}/deactivate", headers=admin, timeout=10
        )
        assert deactivated.status_code == 200, deactivated.text
        page.reload()  # the extended session's CSRF token
        assert page.evaluate(extend) == 401
        # The refusal also ended the session in this browser. Asked with the browser's own
        # cookies rather than by reloading: the page's next poll meets the same 401 and
        # navigates to the sign-in page itself, which would abort a reload racing it.
        again = page.context.request.get(f"{desk.url}/day", max_redirects=0)
        assert again.status in (302, 303), again.status
        assert re.search(r"/sign-in\?next=", again.headers["location"]), again.headers


@contextlib.contextmanager
def idle_minutes(desk: Desk, minutes: int) -> Iterator[None]:
    """The practice's desk idle timeout set to ``minutes`` for the block, then back."""
    token = requests.post(
        f"{desk.url}/api/v1/auth/token",
        json={"email": DEMO_ADMIN[0], "password": DEMO_ADMIN[1]},
        timeout=10,
    ).json()["access_token"]
    admin = {"Authorization": f"Bearer {token}"}
    settings = requests.get(f"{desk.url}/api/v1/practice", headers=admin, timeout=10).json()
    settings.pop("revision")
    before = settings["desk_idle_minutes"]

    def put(value: int) -> None:
        body = {**settings, "desk_idle_minutes": value}
        done = requests.put(f"{desk.url}/api/v1/practice", headers=admin, json=body, timeout=10)
        assert done.status_code == 200, done.text

    put(minutes)
    try:
        yield
    finally:
        put(before)


def test_a_short_idle_timeout_set_by_the_practice_warns_the_desk(desk: Desk) -> None:
    with idle_minutes(desk, 2), signed_in(desk) as page:
        page.clock.install()  # the browser's clock, run forward below; the server's stays
        page.goto("/clients")
        warning = page.get_by_role("dialog", name="Your session is ending")
        expect(warning).to_be_hidden()
        # A minute and a bit without anyone using the desk: within the last minute of two.
        page.clock.fast_forward("01:05")
        expect(warning).to_contain_text("Nobody has used the desk for a while")
        expect(warning).to_contain_text("you will be signed out at")
        page.screenshot(path=str(ARTIFACTS / "idle-warning.png"))
        warning.get_by_role("button", name="Stay signed in").click()
        expect(warning).to_be_hidden()
        expect(page.locator("#toast")).to_contain_text("You stay signed in until")


def hold_until_requested(page: Page, held: list[object]) -> None:
    """Until the page has asked for what the test holds back (Playwright delivers the request
    to the route only while it is running, hence its own wait rather than a sleep)."""
    for _ in range(300):
        if held:
            return
        page.wait_for_timeout(50)
    raise AssertionError("the page never asked for the held request")


def test_lists_show_placeholders_until_their_data_arrives_then_rows_or_an_empty_state(
    desk: Desk,
) -> None:
    api = Api(desk)
    client = api.client("Nadia", "Noshows")
    empty = (now() + timedelta(days=310)).astimezone(PRACTICE_ZONE).date()
    with signed_in(desk) as page:
        held: list[object] = []
        page.route("**/api/v1/appointments?*", lambda route: held.append(route))
        page.goto(f"/day?date={empty}")
        # Until the sessions arrive the grid shows placeholders, and says nothing yet.
        expect(page.locator("#calendar .skeleton")).to_be_visible()
        expect(page.locator("#calendar-empty")).to_be_hidden()
        page.screenshot(path=str(ARTIFACTS / "grid-loading.png"))
        hold_until_requested(page, held)
        for route in held:
            route.continue_()  # type: ignore[attr-defined]
        page.unroute("**/api/v1/appointments?*")  # (also lets through any asked for meanwhile)
        expect(page.locator("#calendar .skeleton")).to_have_count(0)
        expect(page.locator("#calendar-empty")).to_contain_text("No sessions this day")
        expect(
            page.locator("#calendar-empty").get_by_role("link", name="Book one")
        ).to_have_attribute("href", f"/book?date={empty}")

        # A client's page: placeholders while their messages load, then an empty state that
        # offers to book a first session.
        held.clear()
        page.route("**/api/v1/messages?*", lambda route: held.append(route))
        page.goto(f"/clients/{client}")
        messages = page.locator("#client-messages")
        expect(messages.locator("li.skeleton")).to_be_visible()
        expect(messages).to_have_attribute("aria-busy", "true")
        hold_until_requested(page, held)
        for route in held:
            route.continue_()  # type: ignore[attr-defined]
        page.unroute("**/api/v1/messages?*")  # (also lets through any asked for meanwhile)
        expect(messages.locator("li.skeleton")).to_have_count(0)
        expect(messages).to_contain_text("No messages yet.")
        upcoming = page.locator("#upcoming")
        expect(upcoming).to_contain_text("No upcoming sessions.")
        expect(upcoming.get_by_role("link", name="Book one")).to_have_attribute(
            "href", f"/book?client={client}"
        )
        # Not on the waiting list: the card stays out of the way.
        expect(page.locator("#client-waitlist")).to_be_hidden()


@pytest.mark.clock  # the day is counted from the application clock
def test_on_a_phone_the_day_is_an_agenda_of_its_sessions(desk: Desk) -> None:
    api = Api(desk)
    start = now().astimezone(PRACTICE_ZONE).date() + timedelta(days=20)
    day = next(
        start + timedelta(days=n) for n in range(7) if (start + timedelta(days=n)).weekday() < 4
    )
    api.book(demo_id("client-jordan"), "Dr. Ana Rivera", "IPT session (50 min)", at(day, 9))
    api.book(demo_id("client-priya"), "Sam Okafor, LCSW", "Phone check-in", at(day, 15))
    with signed_in(desk, viewport={"width": 390, "height": 844}) as page:
        page.goto(f"/day?date={day}")
        expect(page.locator("#refreshed")).to_contain_text("updated")
        agenda = page.locator("#calendar .ec-list")
        expect(agenda).to_have_count(1)
        # The day's sessions (the demo's own among them) in one column, these two included.
        jordan = agenda.locator("article.appointment", has_text="Jordan").filter(has_text="9:00 AM")
        priya = agenda.locator("article.appointment", has_text="Priya").filter(has_text="3:00 PM")
        expect(jordan).to_have_count(1)
        expect(priya).to_have_count(1)
        expect(jordan).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= page.evaluate("window.innerWidth"), (
            f"the agenda scrolls sideways ({width}px)"
        )
        page.screenshot(path=str(ARTIFACTS / "agenda-390.png"), full_page=True)


def test_a_clients_page_shows_their_waiting_list_entries_and_offers(desk: Desk) -> None:
    api = Api(desk)
    client = api.client("Wanda", "Waitlister")
    start = now().astimezone(PRACTICE_ZONE).date() + timedelta(days=27)
    day = next(
        start + timedelta(days=n) for n in range(7) if (start + timedelta(days=n)).weekday() < 4
    )
    entry = api.post(
        "/api/v1/waitlist",
        {
            "client_id": client,
            "practitioner_ids": [
                api.named("/api/v1/practitioners", "display_name", "Dr. Ana Rivera")
            ],
            "service_type_id": api.named("/api/v1/service-types", "name", "IPT session (50 min)"),
            "windows": [{"weekday": day.weekday(), "start": "10:00", "end": "13:00"}],
            "earliest_date": day.isoformat(),
            "latest_date": day.isoformat(),
        },
    )
    assert entry.status_code == 201, entry.text
    try:
        # Someone else's session in that window, cancelled: the slot is offered to Wanda.
        freed = api.book(
            demo_id("client-marek"), "Dr. Ana Rivera", "IPT session (50 min)", at(day, 11)
        )
        cancelled = api.post(
            f"/api/v1/appointments/{freed}/cancel", {"cancelled_by": "client", "reason": "away"}
        )
        assert cancelled.status_code == 200, cancelled.text
        entry_id = entry.json()["id"]
        wait_until(
            lambda: api.get(f"/api/v1/waitlist/{entry_id}").json()["offers"],
            timeout=60,
            message="the refill loop's offer",
        )
        with signed_in(desk) as page:
            page.goto(f"/clients/{client}")
            card = page.locator("#client-waitlist")
            expect(card).to_be_visible()
            expect(card).to_contain_text("IPT session (50 min) with Dr. Ana Rivera")
            offers = card.locator("li.offer")
            expect(offers).to_have_count(1)
            expect(offers).to_contain_text("11:00 AM — offered, waiting for an answer")
            expect(card.get_by_role("link", name="Open the waiting list")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "client-waitlist.png"), full_page=True)
    finally:
        removed = api.post(f"/api/v1/waitlist/{entry.json()['id']}/remove", {})
        assert removed.status_code == 200, removed.text
