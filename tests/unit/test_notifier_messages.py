"""Message wording, the .ics, and how send failures are classified (no I/O)."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from twilio.base.exceptions import TwilioRestException

from services.notifier import invites, sms_text, templates
from services.notifier.channels import (
    OutboundMessage,
    PermanentFailure,
    TransientFailure,
    smtp_email,
    twilio_sms,
)

THERAPY_WORDS = (
    "therapy",
    "psychotherapy",
    "interpersonal",
    "ipt",
    "diagnos",
    "intake",
    "session",
    "depress",
    "counsel",
)
VALUES = templates.context(
    practice_name="Harbour Street Practice",
    practice_phone="+1 617 555 0100",
    practitioner="Dr. Ana Rivera",
    starts_at=datetime(2026, 11, 2, 15, 0, tzinfo=UTC),
    time_zone="America/New_York",
)


COURSE_VALUES = templates.course_context(
    practice_name="Harbour Street Practice",
    practice_phone="+1 617 555 0100",
    practitioner="Dr. Ana Rivera",
    starts=[datetime(2026, 11, 2, 15, 0, tzinfo=UTC), datetime(2026, 11, 9, 15, 0, tzinfo=UTC)],
    time_zone="America/New_York",
)
PER_SESSION = [k for k in sorted(templates.DEFAULTS) if not k[0].startswith("course_")]
PER_COURSE = [k for k in sorted(templates.DEFAULTS) if k[0].startswith("course_")]


@pytest.mark.parametrize("key", PER_SESSION)
def test_default_wording_says_who_when_and_how_to_reach_the_practice_and_nothing_more(
    key: tuple[str, str],
) -> None:
    rendered = templates.render(templates.DEFAULTS[key], VALUES)

    for part in (rendered.text, rendered.subject or "", rendered.html or ""):
        assert not any(word in part.lower() for word in THERAPY_WORDS), part
        assert not templates.FORBIDDEN.search(part), part
    assert "Dr. Ana Rivera" in rendered.text
    when = "Mon, Nov 2" if key[1] == "sms" else "Monday, November 2, 2026"
    assert f"{when} at 10:00 AM EST" in rendered.text
    assert "+1 617 555 0100" in rendered.text
    templates.check(templates.DEFAULTS[key], key[1], key[0])


SHIPPED_LOCALES = ("en_US", "es_US", "pl_PL")
SMS_KINDS = [k for k, channel in sorted(templates.DEFAULTS) if channel == "sms"]


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
@pytest.mark.parametrize("kind", SMS_KINDS)
@pytest.mark.parametrize("practice_zone", [None, "America/Chicago"], ids=["same-zone", "other"])
def test_every_default_sms_is_one_gsm7_segment_in_every_shipped_locale(
    kind: str, locale: str, practice_zone: str | None
) -> None:
    # A Wednesday in September: the longest short month and weekday in the three locales
    # ("mié, 30 de sep", "śr., 30 wrz" - written "sr." in GSM-7).
    starts_at = datetime(2026, 9, 30, 19, 0, tzinfo=UTC)
    if kind.startswith("course_"):
        values = templates.course_context(
            practice_name="Harbour Street Therapy",
            practice_phone="+1 617 555 0100",
            practitioner="Dr. Ana Rivera",
            starts=[starts_at + timedelta(weeks=i) for i in range(4)],  # before DST ends
            time_zone="America/New_York",
            locale=locale,
        )
    else:
        values = templates.context(
            practice_name="Harbour Street Therapy",
            practice_phone="+1 617 555 0100",
            practitioner="Dr. Ana Rivera",
            starts_at=starts_at,
            time_zone="America/New_York",
            locale=locale,
            practice_time_zone=practice_zone,
        )
    body = templates.sms_body(templates.render(templates.DEFAULTS[(kind, "sms")], values).text)

    assert sms_text.count(body) == sms_text.Count("GSM-7", len(body), 1), body


def test_gsm7_lacks_some_letters_of_the_locales_and_they_are_written_plainly() -> None:
    assert sms_text.plain("śr., 30 wrz · sábado · Łódź") == "sr., 30 wrz · sabado · Lodz"
    assert sms_text.plain("mié, ñ, ü, €") == "mié, ñ, ü, €"  # all in GSM-7 already
    assert sms_text.count("€" * 80) == sms_text.Count("GSM-7", 160, 1)  # two septets each
    assert sms_text.count("a" * 161) == sms_text.Count("GSM-7", 161, 2)
    assert sms_text.count("See you 🙂") == sms_text.Count("UCS-2", 10, 1)
    assert sms_text.count("🙂" * 36) == sms_text.Count("UCS-2", 72, 2)


def test_the_template_check_reports_the_cost_and_refuses_more_than_three_segments() -> None:
    found = templates.check(templates.DEFAULTS[("reminder", "sms")], "sms", "reminder")
    assert (found.encoding, found.segments) == ("GSM-7", 1)
    assert "Dr. Ana Rivera" in found.text

    emoji = templates.check(templates.Template("See you {{ date }} 🙂"), "sms", "reminder")
    assert (emoji.encoding, emoji.segments) == ("UCS-2", 1)

    long = templates.Template("{{ practice_name }}: " + "Please bring your forms. " * 18)
    with pytest.raises(templates.TemplateProblem, match="4 segments"):
        templates.check(long, "sms", "reminder")


@pytest.mark.parametrize("key", PER_COURSE)
def test_a_course_is_named_once_with_how_many_how_often_and_from_when(
    key: tuple[str, str],
) -> None:
    rendered = templates.render(templates.DEFAULTS[key], COURSE_VALUES)

    for part in (rendered.text, rendered.subject or "", rendered.html or ""):
        assert not any(word in part.lower() for word in THERAPY_WORDS), part
        assert not templates.FORBIDDEN.search(part), part
    assert "2 appointments with Dr. Ana Rivera" in rendered.text
    assert "Nov 2, 2026" in rendered.text or "November 2, 2026" in rendered.text
    assert "+1 617 555 0100" in rendered.text
    if key[0] != "course_cancellation_notice":
        assert "every Monday at 10:00 AM EST from Nov 2, 2026" in rendered.text
    if key[1] == "email":
        assert "Monday, November 9, 2026 at 10:00 AM EST" in rendered.text
        assert "Monday, November 9, 2026 at 10:00 AM EST" in (rendered.html or "")
    templates.check(templates.DEFAULTS[key], key[1], key[0])


def test_a_course_that_skips_a_week_lists_its_dates() -> None:
    starts = [datetime(2026, 11, d, 15, 0, tzinfo=UTC) for d in (2, 9, 23)]
    values = templates.course_context(
        practice_name="P",
        practice_phone="1",
        practitioner="X",
        starts=starts,
        time_zone="America/New_York",
    )
    rendered = templates.render(templates.DEFAULTS[("course_confirmation", "sms")], values)

    assert "3 appointments with X booked, from Nov 2, 2026 at 10:00 AM EST" in rendered.text
    assert "Dates: Nov 2, Nov 9, Nov 23." in rendered.text


def test_a_fortnightly_course_says_so() -> None:
    starts = [datetime(2026, 11, d, 15, 0, tzinfo=UTC) for d in (2, 16, 30)]
    values = templates.course_context(
        practice_name="P",
        practice_phone="1",
        practitioner="X",
        starts=starts,
        time_zone="America/New_York",
    )
    assert values["course"] == "every 2 weeks on Monday at 10:00 AM EST from Nov 2, 2026"
    assert values["dates"] == ""


def test_time_is_the_clients_wall_clock_across_dst() -> None:
    summer = templates.context(
        practice_name="P",
        practice_phone="1",
        practitioner="X",
        starts_at=datetime(2026, 10, 31, 14, 0, tzinfo=UTC),
        time_zone="America/New_York",
    )
    warsaw = templates.context(
        practice_name="P",
        practice_phone="1",
        practitioner="X",
        starts_at=datetime(2026, 10, 31, 14, 0, tzinfo=UTC),
        time_zone="Europe/Warsaw",
    )
    assert (summer["date"], summer["time"]) == ("Saturday, October 31, 2026", "10:00 AM EDT")
    assert (warsaw["date"], warsaw["time"]) == ("Saturday, October 31, 2026", "3:00 PM CET")


def test_html_escapes_what_it_is_given() -> None:
    rendered = templates.render(
        templates.DEFAULTS[("reminder", "email")], VALUES | {"practitioner": "<b>Dr. X</b>"}
    )
    assert "&lt;b&gt;Dr. X&lt;/b&gt;" in (rendered.html or "")


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        (templates.Template("Reply CANCEL to cancel"), "CANCEL"),
        (templates.Template("{{ practice_name"), "does not render"),
        (templates.Template("{{ diagnosis }}"), "does not render"),
        (templates.Template("{{ ''.__class__.__mro__ }}"), "does not render"),
    ],
)
def test_a_template_that_would_harm_is_refused(template: templates.Template, problem: str) -> None:
    with pytest.raises(templates.TemplateProblem, match=problem):
        templates.check(template, "sms")


def test_an_email_template_needs_a_subject() -> None:
    with pytest.raises(templates.TemplateProblem, match="subject"):
        templates.check(templates.Template("Hello"), "email")


@pytest.mark.parametrize(
    ("kind", "method"),
    [
        ("confirmation", "REQUEST"),
        ("reschedule_notice", "REQUEST"),
        ("cancellation_notice", "CANCEL"),
    ],
)
def test_calendar_invite_for_confirmations_and_changes(kind: str, method: str) -> None:
    raw = invites.invite(
        kind=kind,
        sessions=[
            invites.Occurrence(
                "a-1",
                3,
                datetime(2026, 11, 2, 15, 0, tzinfo=UTC),
                datetime(2026, 11, 2, 15, 50, tzinfo=UTC),
            )
        ],
        practitioner="Dr. Ana Rivera",
        practice_name="Harbour Street Practice",
        organizer_email="desk@example.com",
        now=datetime(2026, 10, 1, tzinfo=UTC),
        attendee_email="jordan@example.com",
        attendee_name="Jordan",
        time_zone="America/New_York",
    )
    assert raw is not None
    calendar = Calendar.from_ical(raw)
    [event] = calendar.walk("VEVENT")
    assert str(calendar["METHOD"]) == method
    assert (str(event["UID"]), int(event["SEQUENCE"])) == ("a-1@rapport", 3)
    assert str(event["SUMMARY"]) == "Appointment with Dr. Ana Rivera"
    assert str(event["ORGANIZER"]) == "mailto:desk@example.com"
    assert event["ORGANIZER"].params["CN"] == "Harbour Street Practice"
    assert str(event["ATTENDEE"]) == "mailto:jordan@example.com"
    assert event["ATTENDEE"].params["CN"] == "Jordan"
    # In the session's own zone, with its VTIMEZONE.
    assert event["DTSTART"].params["TZID"] == "America/New_York"
    assert event.decoded("DTSTART") == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["America/New_York"]


@pytest.mark.parametrize("time_zone", ["America/New_York", "UTC", None])
@pytest.mark.parametrize("kind", ["confirmation", "course_cancellation_notice"])
def test_the_invite_is_what_icalendar_writes_for_the_whole_calendar(
    kind: str, time_zone: str | None
) -> None:
    """The calendar's head and each VTIMEZONE are serialized once and reused; joined with the
    events they must be, byte for byte, the calendar icalendar writes in one go (sessions
    across a DST change and two years, a video link, a long line folded)."""
    first, second = datetime(2026, 11, 2, 15, tzinfo=UTC), datetime(2027, 6, 1, 14, tzinfo=UTC)
    sessions = [
        invites.Occurrence("a-1", 1, first, first + timedelta(minutes=50)),
        invites.Occurrence(
            "a-2", 2, second, second + timedelta(minutes=50), video_url="https://meet.example/j/1"
        ),
    ]
    for attempt in range(2):  # the second from the cached pieces
        raw = invites.invite(
            kind=kind,
            sessions=sessions,
            practitioner="Dr. Ana Rivera",
            practice_name="Harbour Street Practice, a name long enough to be folded",
            organizer_email="desk@example.com",
            now=datetime(2026, 10, 1, tzinfo=UTC),
            attendee_email="jordan@example.com",
            attendee_name="Jordan",
            time_zone=time_zone,
        )
        assert raw is not None
        calendar = Calendar.from_ical(raw)
        assert calendar.to_ical() == raw, attempt
        zones = [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")]
        assert zones == (["America/New_York"] if time_zone == "America/New_York" else [])
        assert len(calendar.walk("VEVENT")) == 2


def test_no_calendar_invite_for_a_plain_reminder() -> None:
    now = datetime(2026, 10, 1, tzinfo=UTC)
    assert (
        invites.invite(
            kind="reminder",
            sessions=[invites.Occurrence("a", 1, now, now)],
            practitioner="X",
            practice_name="P",
            organizer_email="e@x",
            now=now,
        )
        is None
    )


def test_email_is_an_invite_with_text_html_date_and_message_id() -> None:
    email = smtp_email.build(
        OutboundMessage(
            "m-1",
            "email",
            "a@example.com",
            "plain",
            "Subject",
            "<p>html</p>",
            b"BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\n",
            written_at=datetime(2026, 10, 1, 14, 5, tzinfo=UTC),
        ),
        "Harbour Street <from@harbour.example>",
    )
    types = [part.get_content_type() for part in email.walk()]
    # The calendar is an alternative of the message, as mail clients expect of an invite.
    assert types == ["multipart/alternative", "text/plain", "text/html", "text/calendar"]
    calendar = list(email.walk())[-1]
    assert calendar.get_param("method") == "CANCEL"
    assert email["Message-ID"] == "<m-1@harbour.example>"
    assert email["Date"] == "Thu, 01 Oct 2026 14:05:00 +0000"


# -- failure classification ------------------------------------------------------------------


def twilio_error(status: int, code: int | None = None) -> TwilioRestException:
    return TwilioRestException(status, "https://api.twilio.com/x", "boom", code)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (twilio_error(500), TransientFailure),
        (twilio_error(503), TransientFailure),
        (twilio_error(429, 20429), TransientFailure),
        (twilio_error(400, 30001), TransientFailure),
        (twilio_error(400, 30003), TransientFailure),
        (twilio_error(400, 21211), PermanentFailure),
        (twilio_error(400, 21610), PermanentFailure),
        (twilio_error(400, 21614), PermanentFailure),
        (twilio_error(401, 20003), PermanentFailure),
    ],
)
def test_twilio_failures_are_transient_or_permanent(error: TwilioRestException, kind: type) -> None:
    assert isinstance(twilio_sms.classify(error), kind)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (smtplib.SMTPResponseException(550, b"no such user"), PermanentFailure),
        (smtplib.SMTPResponseException(554, b"rejected"), PermanentFailure),
        (smtplib.SMTPResponseException(451, b"try later"), TransientFailure),
        (smtplib.SMTPRecipientsRefused({"a@x": (550, b"unknown")}), PermanentFailure),
        (smtplib.SMTPServerDisconnected("gone"), TransientFailure),
        (TimeoutError(), TransientFailure),
        (ConnectionRefusedError(), TransientFailure),
    ],
)
def test_smtp_failures_are_transient_or_permanent(error: Exception, kind: type) -> None:
    assert isinstance(smtp_email.classify(error), kind)
