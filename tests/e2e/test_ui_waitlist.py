"""The waiting-list page in a real browser against the real processes: a client is put on the
list through the form (a refusal shows next to its field and adds nothing), listed with the
times they can come, and taken off it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_ui_desk import ARTIFACTS, Desk, desk, signed_in  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


def test_put_a_client_on_the_waiting_list_and_take_them_off(desk: Desk) -> None:  # noqa: F811
    with signed_in(desk) as page:
        page.get_by_role("link", name="Waiting list").click()
        form = page.locator("#waitlist-form")
        # No client chosen: the refusal says so next to the field.
        form.get_by_role("button", name="Add to the waiting list").click()
        expect(form.locator('.field-error[data-field="client_id"]')).to_be_visible()
        page.get_by_label("Find a client by name, phone or email").fill("Natarajan")
        page.get_by_text("Priya Natarajan").click()
        form.get_by_label("Sam Okafor, LCSW").check()
        page.locator("#weekday-0").select_option("2")
        page.locator("#from-0").fill("13:00")
        page.locator("#to-0").fill("17:00")
        # A window that ends before it starts is refused where it was typed.
        page.get_by_role("button", name="Add another time").click()
        page.locator("#from-1").fill("12:00")
        page.locator("#to-1").fill("10:00")
        form.get_by_role("button", name="Add to the waiting list").click()
        expect(form.locator(".error[role=alert]")).to_be_visible()
        expect(page.locator("#entries .entry")).to_have_count(0)
        page.locator("#to-1").fill("14:00")
        form.get_by_role("button", name="Add to the waiting list").click()
        entry = page.locator("#entries .entry", has_text="Priya Natarajan")
        expect(entry).to_contain_text("Wednesday 13:00–17:00")
        expect(entry).to_contain_text("Sam Okafor, LCSW")
        page.screenshot(path=str(ARTIFACTS / "waitlist.png"), full_page=True)
        entry.get_by_role("button", name="Take Priya Natarajan off the waiting list").click()
        expect(page.locator("#entries .entry", has_text="Priya Natarajan")).to_have_count(0)
