"""Check-ins at the desk, in a real browser through the gateway: an admin enrols a client on the
client's page with the plain form, the page then frames the notifier's chart (readable without
script, with its data table), it fits a phone and axe finds nothing; the front desk sees none
of it."""

from __future__ import annotations

import requests
from playwright.sync_api import expect

from services.scheduler.demo import DEMO_ADMIN
from shared.demo import demo_id
from tests.e2e.test_ui_desk import Desk, axe_violations, desk, signed_in  # noqa: F401

JORDAN = demo_id("client-jordan")
SAFETY = "If you need someone to talk to right now, call or text 988, any time."


def admin_token(d: Desk) -> str:
    response = requests.post(
        f"{d.url}/api/v1/auth/token",
        json={"email": DEMO_ADMIN[0], "password": DEMO_ADMIN[1]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_an_admin_enrols_a_client_and_sees_the_chart_frame(desk: Desk) -> None:  # noqa: F811
    token = admin_token(desk)
    settings = {"threshold": 3, "crisis_words": ["hopeless"], "safety_message": SAFETY}
    saved = requests.put(
        f"{desk.url}/api/v1/check-in-settings",
        json=settings,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert saved.status_code == 200, saved.text

    with signed_in(desk, DEMO_ADMIN, bypass_csp=True) as page:
        page.goto(f"/clients/{JORDAN}")
        form = page.locator("form.check-in-form")
        form.get_by_label("When").select_option("weekdays")
        form.get_by_label("Mon").check()
        form.get_by_label("Thu").check()
        form.get_by_label("At (client's local time)").fill("18:30")
        form.get_by_label("For how long").select_option("date")
        form.get_by_label("Until (inclusive)").fill("2031-01-31")
        form.get_by_label("Practitioner").select_option(label="Dr. Ana Rivera")
        form.get_by_role("button", name="Save check-ins").click()

        expect(page).to_have_url(f"{desk.url}/clients/{JORDAN}#check-ins")
        card = page.locator("#check-ins")
        expect(card).to_contain_text("on Mon, Thu at 18:30")
        chart = page.frame_locator("iframe.check-in-chart")
        expect(chart.locator("svg[role=img] title")).to_have_text("Check-in scores over time")
        expect(chart.get_by_role("table").first).to_contain_text("No answers yet.")
        assert axe_violations(page) == [], "client page with check-ins"
        page.set_viewport_size({"width": 390, "height": 844})
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the client page scrolls sideways ({width}px)"

    with signed_in(desk) as page:  # the front desk
        page.goto(f"/clients/{JORDAN}")
        expect(page.locator("#upcoming")).to_be_visible()
        expect(page.locator("#check-ins")).to_have_count(0)
        refused = page.request.get(f"/api/v1/check-ins/clients/{JORDAN}/answers")
        assert refused.status == 403
