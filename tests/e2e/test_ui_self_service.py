"""A client's self-service page in a real browser (Debian's Chromium through Playwright), on a
phone's width, against every service as real processes behind one loopback gateway: the link
the desk's API shows is the one the client's messages carry."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
import requests
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, insert

from services.scheduler.tables import Appointment, SelfServiceLink
from shared.demo import demo_id
from tests.e2e.test_ui_desk import (  # noqa: F401 - the desk fixture
    ARTIFACTS,
    Api,
    Desk,
    axe_violations,
    desk,
    signed_in,
    wall,
)
from tests.support import days_ahead, now, wait_until

PHONE = {"width": 390, "height": 844}


def book(api: Api, client: str, starts_at: datetime) -> str:
    booked = api.post(
        "/api/v1/appointments",
        {
            "client_id": demo_id(client),
            "practitioner_id": demo_id("dr-rivera"),
            "service_type_id": demo_id("ipt-session"),
            "starts_at": starts_at.isoformat(),
        },
    )
    assert booked.status_code == 201, booked.text
    return str(booked.json()["id"])


def link_of(api: Api, appointment_id: str) -> str:
    shown = api.get(f"/api/v1/appointments/{appointment_id}/self-service-link")
    assert shown.status_code == 200, shown.text
    return str(shown.json()["url"])


def fits_the_phone_and_passes_axe(page: Page, name: str) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{name} scrolls sideways ({width}px > {inner}px)"
    assert axe_violations(page) == [], name
    page.screenshot(path=str(ARTIFACTS / f"self-service-{name}.png"), full_page=True)


@pytest.mark.clock  # runs again at the fixed instants of `make test`
def test_a_late_cancellation_through_the_link_warns_and_is_charged(
    desk: Desk,  # noqa: F811
) -> None:
    api = Api(desk)
    # Inside the practice's 24-hour window whatever the instant.
    starts_at = (now() + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    appointment_id = book(api, "client-jordan", starts_at)
    url = link_of(api, appointment_id)
    assert url.startswith(desk.url + "/s/")

    # No JavaScript: the page is plain forms. axe is added by the test, past the page's CSP.
    context = desk.context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    requests_seen: list[str] = []
    page.on("request", lambda request: requests_seen.append(request.url))
    try:
        response = page.goto(url)
        assert response is not None and response.status == 200
        expect(page.get_by_role("heading", name="Your appointment")).to_be_visible()
        expect(page.locator("#fee-warning")).to_contain_text("late-cancellation fee applies")
        nonce = page.locator("form[action$='/cancel'] input[name=nonce]").get_attribute("value")
        page.get_by_role("button", name="Cancel this appointment").click()
        expect(page.get_by_role("status")).to_contain_text("Your appointment is cancelled.")
        expect(page.locator("#status")).to_contain_text("Cancelled (a late-cancellation fee")
        expect(page.get_by_role("button", name="Cancel this appointment")).to_have_count(0)
        # Sending the form again changes nothing.
        again = context.request.post(f"{url}/cancel", form={"nonce": str(nonce)})
        assert again.status == 200 and "Cancelled" in again.text()
        assert all(seen.startswith(desk.url) for seen in requests_seen), requests_seen
    finally:
        context.close()
    with_axe = desk.context(viewport=PHONE, bypass_csp=True)
    try:
        page = with_axe.new_page()
        page.goto(url)
        fits_the_phone_and_passes_axe(page, "cancelled-390")
    finally:
        with_axe.close()

    shown = api.get(f"/api/v1/appointments/{appointment_id}").json()
    assert (shown["status"], shown["cancelled_by"], shown["late_cancellation"]) == (
        "cancelled",
        "client",
        True,
    )
    assert shown["sequence"] == 2  # cancelled once

    def late_fee() -> list[dict[str, object]]:
        invoices = api.get("/api/v1/invoices", appointment_id=appointment_id).json()["items"]
        return [
            line
            for invoice in invoices
            for line in invoice["lines"]
            if line["kind"] == "late_cancellation_fee" and line["status"] == "active"
        ]

    [fee] = wait_until(late_fee, timeout=60, message="billing's late-cancellation fee")
    assert int(str(fee["amount_minor"])) > 0


@pytest.mark.clock  # runs again at the fixed instants of `make test`
def test_confirming_through_the_link_shows_at_the_desk(desk: Desk) -> None:  # noqa: F811
    api = Api(desk)
    starts_at = days_ahead(3, hour=11)
    appointment_id = book(api, "client-priya", starts_at)
    url = link_of(api, appointment_id)

    context = desk.context(viewport=PHONE, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(url)
        # Before choosing: three days ahead, cancelling is still free.
        expect(page.locator("#no-fee")).to_contain_text("You can cancel without a fee until")
        fits_the_phone_and_passes_axe(page, "booked-390")
        page.get_by_role("button", name="Confirm I will attend").click()
        expect(page.get_by_role("status")).to_contain_text("your appointment is confirmed")
        expect(page.locator("#status")).to_have_text("Confirmed")
        calendar = page.get_by_role("link", name="Add to my calendar")
        ics = requests.get(str(calendar.evaluate("a => a.href")), timeout=10)
        assert ics.headers["Content-Type"].startswith("text/calendar")
        assert f"UID:{appointment_id}@rapport" in ics.text
        fits_the_phone_and_passes_axe(page, "confirmed-390")
    finally:
        context.close()

    shown = api.get(f"/api/v1/appointments/{appointment_id}").json()
    assert (shown["status"], shown["confirmed_by"]) == ("confirmed", "client")
    day, _ = wall(starts_at)
    with signed_in(desk) as desk_page:
        desk_page.goto(f"/day?date={day}")
        card = desk_page.locator(f"article.appointment[data-id='{appointment_id}']")
        expect(card).to_contain_text("Confirmed by client")


def test_tampered_revoked_and_expired_links_are_a_plain_404(desk: Desk) -> None:  # noqa: F811
    api = Api(desk)
    appointment_id = book(api, "client-marek", days_ahead(6, hour=9))
    url = link_of(api, appointment_id)
    token = url.rsplit("/", 1)[1]
    tampered = url[:-1] + ("A" if token[-1] != "A" else "B")

    # A session that ended yesterday, with its link still in the database.
    ended = uuid.uuid4().hex[:16]  # a token of the right shape
    starts_at = days_ahead(-1, hour=9)
    engine = create_engine(desk.databases["scheduler"])
    try:
        with engine.begin() as connection:
            past_id = str(uuid.uuid4())
            connection.execute(
                insert(Appointment.__table__).values(
                    id=past_id,
                    sequence=3,
                    status="completed",
                    client_id=demo_id("client-marek"),
                    practitioner_id=demo_id("dr-rivera"),
                    service_type_id=demo_id("ipt-session"),
                    starts_at=starts_at,
                    ends_at=starts_at + timedelta(minutes=50),
                    time_zone="America/New_York",
                    booked_by="e2e",
                    created_at=starts_at - timedelta(days=7),
                    updated_at=starts_at,
                )
            )
            connection.execute(
                insert(SelfServiceLink.__table__).values(
                    token=ended, appointment_id=past_id, created_at=starts_at
                )
            )
    finally:
        engine.dispose()
    expired = f"{desk.url}/s/{ended}"

    revoked = api.post(f"/api/v1/appointments/{appointment_id}/self-service-link/revoke", {})
    assert revoked.json()["revoked"] == 1 and revoked.json()["url"] != url

    context = desk.context(viewport=PHONE)
    try:
        page = context.new_page()
        bodies = set()
        for name, address in (("tampered", tampered), ("revoked", url), ("expired", expired)):
            response = page.goto(address)
            assert response is not None and response.status == 404, name
            expect(page.get_by_role("heading")).to_have_text("This link does not work")
            bodies.add(page.content())
        assert len(bodies) == 1  # one plain page: it does not say which
        page.screenshot(path=str(ARTIFACTS / "self-service-404.png"))
    finally:
        context.close()
