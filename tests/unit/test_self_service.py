"""A session's self-service link on plain data: its token, the page's form nonce, what the page
offers when, the one-session calendar file, and the link in the client's messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest

from services.notifier import sms_text, templates
from services.scheduler import self_service
from services.scheduler.tables import Appointment, SelfServiceLink

# Monday 2 November 2026, 15:00 UTC: 10:00 in New York (EST).
STARTS = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
WINDOW = timedelta(hours=24)
URL = "https://rapport.example.com/s/q3Jx0b8mZ2kR7tVw"


def appointment(status: str = "booked", **extra: object) -> Appointment:
    fields: dict[str, object] = {
        "id": "a1",
        "sequence": 3,
        "status": status,
        "client_id": "c1",
        "practitioner_id": "p1",
        "service_type_id": "s1",
        "starts_at": STARTS,
        "ends_at": STARTS + timedelta(minutes=50),
        "time_zone": "America/New_York",
        "location": None,
        "video_url": None,
    }
    return Appointment(**(fields | extra))


def test_tokens_are_random_short_and_url_safe() -> None:
    tokens = {self_service.new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(self_service.TOKEN_SHAPE.match(t) for t in tokens)
    assert (
        self_service.link_url("https://rapport.example", "abc") == "https://rapport.example/s/abc"
    )


def test_the_form_nonce_belongs_to_one_token_and_one_secret() -> None:
    nonce = self_service.form_nonce("secret", "token-a")
    assert self_service.nonce_matches("secret", "token-a", nonce)
    assert not self_service.nonce_matches("secret", "token-b", nonce)
    assert not self_service.nonce_matches("other", "token-a", nonce)
    assert not self_service.nonce_matches("secret", "token-a", None)
    assert not self_service.nonce_matches("secret", "token-a", "")
    assert not self_service.nonce_matches("secret", "token-a", nonce[:-1] + "0")


def test_a_link_lives_until_the_session_ends_unless_revoked() -> None:
    session = appointment()
    link = SelfServiceLink(token="t", appointment_id="a1", created_at=STARTS - timedelta(days=3))
    assert self_service.is_live(link, session, STARTS - timedelta(days=1))
    assert self_service.is_live(link, session, STARTS + timedelta(minutes=49))
    assert not self_service.is_live(link, session, STARTS + timedelta(minutes=50))
    link.revoked_at = STARTS - timedelta(days=2)
    assert not self_service.is_live(link, session, STARTS - timedelta(days=1))


@pytest.mark.parametrize(
    ("status", "before", "allowed", "expected"),
    [
        ("booked", timedelta(days=3), True, (True, True, False, True, False)),
        ("booked", timedelta(hours=5), True, (True, True, True, True, False)),
        ("confirmed", timedelta(hours=23, minutes=59), True, (False, True, True, True, False)),
        ("confirmed", timedelta(hours=24), True, (False, True, False, True, False)),
        ("booked", timedelta(days=3), False, (True, False, False, True, True)),
        ("cancelled", timedelta(days=3), True, (False, False, False, False, False)),
        ("checked_in", timedelta(minutes=10), True, (False, False, True, False, False)),
        ("booked", timedelta(0), True, (False, False, True, False, False)),
    ],
    ids=[
        "booked-early",
        "booked-late",
        "confirmed-just-inside-window",
        "confirmed-at-window-edge",
        "cancellation-off",
        "cancelled",
        "checked-in",
        "started",
    ],
)
def test_what_the_page_offers(
    status: str, before: timedelta, allowed: bool, expected: tuple[bool, ...]
) -> None:
    can = self_service.choices(
        appointment(status), STARTS - before, window=WINDOW, client_cancellation=allowed
    )
    assert (
        can.confirm,
        can.cancel,
        can.cancel_is_late,
        can.reschedule,
        can.cancellation_off,
    ) == expected


def test_the_calendar_file_is_the_one_session() -> None:
    session = appointment(location="14 Harbour Street", video_url="https://meet.example/r/1")
    body = self_service.session_calendar(
        session, "Dr. Ana Rivera", session.location, STARTS - timedelta(days=1)
    )
    calendar = icalendar.Calendar.from_ical(body)
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == "a1@rapport"
    assert event.decoded("DTSTART") == STARTS
    assert event.decoded("DTSTART").tzinfo is not None
    assert str(event["DTSTART"].params["TZID"]) == "America/New_York"
    assert str(event["SUMMARY"]) == "Appointment with Dr. Ana Rivera"
    assert str(event["LOCATION"]) == "14 Harbour Street"
    assert str(event["URL"]) == "https://meet.example/r/1"
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["America/New_York"]


def values(**overrides: object) -> dict[str, str]:
    given: dict[str, object] = {
        "practice_name": "Harbour Street Therapy",
        "practice_phone": "+1 617 555 0100",
        "practitioner": "Dr. Ana Rivera",
        "starts_at": STARTS,
        "time_zone": "America/New_York",
        "practice_time_zone": "America/New_York",
        "manage_url": URL,
    }
    return templates.context(**(given | overrides))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["confirmation", "reminder"])
@pytest.mark.parametrize("locale", ["en_US", "es_US", "pl_PL"])
def test_an_sms_with_the_link_stays_one_gsm_7_segment(kind: str, locale: str) -> None:
    rendered = templates.render(templates.DEFAULTS[(kind, "sms")], values(locale=locale))
    body = templates.sms_body(rendered.text)
    assert body.endswith(f"Confirm or change: {URL}")
    cost = sms_text.count(body)
    assert (cost.encoding, cost.segments) == ("GSM-7", 1), body


@pytest.mark.parametrize("kind", ["confirmation", "reminder"])
def test_without_a_link_the_sms_asks_for_a_reply_as_before(kind: str) -> None:
    rendered = templates.render(templates.DEFAULTS[(kind, "sms")], values(manage_url=None))
    assert "Reply C to confirm, R for a call. +1 617 555 0100" in rendered.text
    assert "/s/" not in rendered.text


@pytest.mark.parametrize("kind", ["confirmation", "reminder", "course_confirmation"])
def test_the_email_links_to_the_page(kind: str) -> None:
    given = (
        templates.course_context(
            practice_name="Harbour Street Therapy",
            practice_phone="+1 617 555 0100",
            practitioner="Dr. Ana Rivera",
            starts=[STARTS + timedelta(weeks=i) for i in range(3)],
            time_zone="America/New_York",
            manage_url=URL,
        )
        if kind.startswith("course_")
        else values()
    )
    rendered = templates.render(templates.DEFAULTS[(kind, "email")], given)
    assert URL in rendered.text
    assert rendered.html is not None and f'<a href="{URL}">' in rendered.html


@pytest.mark.parametrize(
    "kind", ["reschedule_notice", "cancellation_notice", "course_cancellation_notice"]
)
def test_notices_do_not_carry_the_link(kind: str) -> None:
    for channel in ("sms", "email"):
        rendered = templates.render(templates.DEFAULTS[(kind, channel)], values_for(kind))
        assert URL not in rendered.text


def values_for(kind: str) -> dict[str, object]:
    if kind.startswith("course_"):
        return templates.course_context(
            practice_name="Harbour Street Therapy",
            practice_phone="+1 617 555 0100",
            practitioner="Dr. Ana Rivera",
            starts=[STARTS],
            time_zone="America/New_York",
            manage_url=URL,
        )
    return dict(values())
