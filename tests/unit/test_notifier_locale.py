"""Dates and times in the client's locale and zone, with the practice's clock when it differs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notifier import templates

# Monday 2 November 2026, 15:00 UTC: 10:00 in New York (EST), 9:00 in Chicago (CST).
STARTS = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def values(**overrides: object) -> dict[str, str]:
    given: dict[str, object] = {
        "practice_name": "Harbour Street Practice",
        "practice_phone": "+1 617 555 0100",
        "practitioner": "Dr. Ana Rivera",
        "starts_at": STARTS,
        "time_zone": "America/New_York",
    }
    return templates.context(**(given | overrides))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("locale", "date", "time"),
    [
        ("en_US", "Monday, November 2, 2026", "10:00 AM EST"),
        ("es_US", "lunes, 2 de noviembre de 2026", "10:00 a.m. EST"),
        ("pl_PL", "poniedziałek, 2 listopada 2026", "10:00 EST"),
    ],
)
def test_date_and_time_follow_the_clients_locale(locale: str, date: str, time: str) -> None:
    got = values(locale=locale)
    assert (got["date"], got["time"]) == (date, time)


def test_english_stays_the_default_and_the_wording_is_not_translated() -> None:
    assert values()["date"] == "Monday, November 2, 2026"
    spanish = templates.render(templates.DEFAULTS[("reminder", "email")], values(locale="es_US"))
    assert spanish.text.startswith("This is a reminder of your appointment")
    assert "lunes, 2 de noviembre de 2026 at 10:00 a.m. EST" in spanish.text
    # An SMS says the date short, still in the client's locale.
    sms = templates.render(templates.DEFAULTS[("reminder", "sms")], values(locale="es_US"))
    assert sms.text.startswith(
        "Harbour Street Practice: reminder of lun, 2 de nov at 10:00 a.m. EST"
    )


def test_no_special_spaces_that_would_push_an_sms_out_of_gsm_7() -> None:
    for locale in ("en_US", "es_US"):
        got = values(locale=locale)
        assert "\u202f" not in got["time"] and "\u00a0" not in got["time"]


def test_a_client_in_another_zone_also_gets_the_time_at_the_practice() -> None:
    got = values(time_zone="America/Chicago", practice_time_zone="America/New_York")
    assert (got["time"], got["practice_time"]) == ("9:00 AM CST", "10:00 AM")

    rendered = templates.render(templates.DEFAULTS[("confirmation", "sms")], got)
    assert "Mon, Nov 2 at 9:00 AM CST (10:00 AM there)" in rendered.text
    assert len(rendered.text) <= 160  # one segment
    email = templates.render(templates.DEFAULTS[("reminder", "email")], got)
    assert "(10:00 AM at the practice)" in email.text
    assert email.html is not None and "(10:00 AM at the practice)" in email.html


def test_the_practice_time_uses_the_clients_locale() -> None:
    got = values(time_zone="Europe/Warsaw", practice_time_zone="America/New_York", locale="pl_PL")
    assert (got["time"], got["practice_time"]) == ("16:00 CET", "10:00")


def test_same_clock_means_no_practice_time() -> None:
    same_zone = values(practice_time_zone="America/New_York")
    same_clock = values(practice_time_zone="America/Toronto")
    for got in (same_zone, same_clock):
        assert got["practice_time"] == ""
        rendered = templates.render(templates.DEFAULTS[("reminder", "sms")], got)
        assert "there)" not in rendered.text


def test_across_dst_each_side_keeps_its_own_wall_clock() -> None:
    # 2026-03-08 16:00 UTC: New York has sprung forward (EDT, 12:00), Phoenix never does
    # (MST, 9:00), London not yet (GMT, 16:00).
    sunday = datetime(2026, 3, 8, 16, 0, tzinfo=UTC)
    phoenix = values(
        starts_at=sunday, time_zone="America/Phoenix", practice_time_zone="America/New_York"
    )
    assert (phoenix["date"], phoenix["time"], phoenix["practice_time"]) == (
        "Sunday, March 8, 2026",
        "9:00 AM MST",
        "12:00 PM",
    )
    # A week earlier New York was on EST: the practice's clock moves, the client's does not.
    before = values(
        starts_at=datetime(2026, 3, 1, 16, 0, tzinfo=UTC),
        time_zone="America/Phoenix",
        practice_time_zone="America/New_York",
    )
    assert (before["time"], before["practice_time"]) == ("9:00 AM MST", "11:00 AM")
    london = values(starts_at=sunday, time_zone="Europe/London", locale="en_GB")
    assert (london["date"], london["time"]) == ("Sunday, 8 March 2026", "16:00 GMT")


def test_an_unknown_locale_in_the_projection_falls_back_to_english() -> None:
    assert values(locale="xx_YY")["date"] == "Monday, November 2, 2026"
