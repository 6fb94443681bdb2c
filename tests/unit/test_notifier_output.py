"""What the notifier hands over is what the libraries themselves produce: the environment the
Twilio SDK's requests would read, the email compat32 writes, the .ics icalendar writes, Babel's
dates and times, the SMS text GSM-7 allows (no I/O)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr, parseaddr
from zoneinfo import ZoneInfo

import pytest
import requests
from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from icalendar import Calendar, Event, vCalAddress, vText

from services.notifier import invites, sms_text, templates
from services.notifier.channels import OutboundMessage, smtp_email
from services.notifier.channels.twilio_sms import RedirectingHttpClient, TwilioSms
from shared import dates

ACCOUNT = "AC" + "0" * 32
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.mark.parametrize(
    ("environment", "host", "proxied"),
    [
        ({}, "api.twilio.com", False),
        ({"HTTPS_PROXY": "http://proxy.example:3128"}, "api.twilio.com", True),
        (
            {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "localhost,.twilio.com"},
            "api.twilio.com",
            False,
        ),
        # The SDK's own TWILIO_REGION moves the origin: NO_PROXY is matched against that one.
        (
            {
                "https_proxy": "http://proxy.example:3128",
                "no_proxy": "api.twilio.com",
                "TWILIO_REGION": "au1",
            },
            "api.au1.twilio.com",
            True,
        ),
        ({"ALL_PROXY": "socks5://proxy.example:1080"}, "api.twilio.com", True),
        ({"REQUESTS_CA_BUNDLE": "/etc/ssl/private-ca.pem"}, "api.twilio.com", False),
        ({"CURL_CA_BUNDLE": "/etc/ssl/curl-ca.pem"}, "api.twilio.com", False),
    ],
)
def test_twilio_reads_the_environment_once_as_requests_would_for_each_request(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], host: str, proxied: bool
) -> None:
    for name in (*PROXY_VARIABLES, "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "TWILIO_REGION"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    http = TwilioSms({"TWILIO_ACCOUNT_SID": ACCOUNT}, "https://rapport.example").client.http_client
    assert isinstance(http, RedirectingHttpClient) and http.session is not None
    url = f"https://{host}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"

    # What the SDK hands to Session.send for every message: once computed from os.environ by
    # a session trusting it, now from what was read at start-up.
    expected = requests.Session().merge_environment_settings(url, {}, None, None, None)
    assert http.session.trust_env is False
    given = http.session.merge_environment_settings(url, dict(http.proxy), None, None, None)
    assert given == expected
    assert bool(given["proxies"]) is proxied


# -- email: the bytes compat32 writes -------------------------------------------------------


def reference_build(message: OutboundMessage, sender: str) -> Message:
    """The email built entirely by the email package, the generator choosing the boundary."""
    email = MIMEMultipart("alternative")
    name, address = parseaddr(sender)
    email["From"] = reference_header(formataddr((name, address)))
    email["To"] = message.to
    email["Subject"] = reference_header(message.subject or "")
    if message.written_at is not None:
        email["Date"] = format_datetime(message.written_at)
    domain = address.rpartition("@")[2] or "rapport.invalid"
    email["Message-ID"] = f"<{message.message_id}@{domain}>"
    email.attach(reference_part(message.text, "plain"))
    if message.html:
        email.attach(reference_part(message.html, "html"))
    if message.calendar:
        calendar = reference_part(message.calendar.decode(), "calendar")
        calendar.set_param(
            "method", "CANCEL" if b"METHOD:CANCEL" in message.calendar else "REQUEST"
        )
        calendar.add_header("Content-Disposition", "inline", filename="invite.ics")
        email.attach(calendar)
    return email


def reference_part(text: str, subtype: str) -> MIMENonMultipart:
    utf8 = Charset("utf-8")
    utf8.body_encoding = QP
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(text, utf8)
    del part["MIME-Version"]
    return part


def reference_header(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


def reference_wire(email: Message) -> tuple[bytes, tuple[str, ...]]:
    if not all(str(email[field]).isascii() for field in ("From", "To")):
        return email.as_bytes(policy=policy.SMTPUTF8), ("SMTPUTF8", "BODY=8BITMIME")
    return email.as_bytes(policy=policy.compat32.clone(linesep="\r\n")), ()


BOUNDARY = re.compile(rb'boundary="([^"]+)"')
SENDERS = (
    "Harbour Street Therapy <desk@harbourstreet.example>",
    "reminders@rapport.invalid",
    "Clínica Café <citas@cafe.example>",
)
# (locale, client's zone, practice's zone, start): across both 2026 DST changes in New York and
# Europe, a client an hour from the practice, and a zone without DST.
CASES = (
    ("en_US", "America/New_York", "America/New_York", datetime(2026, 3, 8, 16, 0, tzinfo=UTC)),
    ("es_US", "America/Chicago", "America/New_York", datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
    ("pl_PL", "Europe/Warsaw", "Europe/Warsaw", datetime(2026, 3, 29, 0, 30, tzinfo=UTC)),
    ("en_GB", "Europe/London", "America/New_York", datetime(2026, 10, 25, 1, 0, tzinfo=UTC)),
    ("pt_BR", "America/Sao_Paulo", "America/Phoenix", datetime(2026, 9, 30, 19, 0, tzinfo=UTC)),
    ("ja_JP", "Asia/Tokyo", "UTC", datetime(2026, 12, 31, 23, 45, tzinfo=UTC)),
)


def rendered_email(
    kind: str, locale: str, zone: str, practice_zone: str, starts: datetime, n: int = 0
) -> OutboundMessage:
    """An email as the dispatcher writes it: default wording, the invite, the clock's now."""
    values = templates.context(
        practice_name="Harbour Street Thérapie" if n % 2 else "Harbour Street Therapy",
        practice_phone="+1 617 555 0100",
        practitioner="Dr. Ana Rivera",
        starts_at=starts,
        time_zone=zone,
        first_name="Jordan",
        locale=locale,
        practice_time_zone=practice_zone,
        location="12 Harbour Street, Boston, MA 02110",
        join_url="https://meet.example/j/123" if n % 3 == 1 else None,
        manage_url=f"https://rapport.example/s/token-{n}",
    )
    rendered = templates.render(templates.DEFAULTS[(kind, "email")], values)
    calendar = invites.invite(
        kind=kind,
        sessions=[
            invites.Occurrence(f"appt-{n}", 2, starts, starts + timedelta(minutes=50)),
        ],
        practitioner="Dr. Ana Rivera",
        practice_name="Harbour Street Therapy",
        organizer_email="desk@harbourstreet.example",
        now=datetime(2026, 2, 20, 9, 30, 15, tzinfo=UTC),
        attendee_email="jordan@example.com",
        attendee_name="Jordan",
        time_zone=practice_zone,
        practice_address="12 Harbour Street",
    )
    return OutboundMessage(
        f"{n:08d}-5a1e-4c1b-9d3e-6f7a8b9c0d1e",
        "email",
        "jordan@example.com",
        rendered.text,
        rendered.subject,
        rendered.html,
        calendar,
        written_at=datetime(2026, 2, 20, 9, 30, 15, tzinfo=UTC),
    )


def same_but_boundary(ours: bytes, reference: bytes) -> None:
    """Byte for byte, once the reference's random boundary is replaced by ours."""
    [mine] = set(BOUNDARY.findall(ours))
    [theirs] = set(BOUNDARY.findall(reference))
    assert ours == reference.replace(theirs, mine)


@pytest.mark.parametrize("sender", SENDERS)
@pytest.mark.parametrize("kind", ["confirmation", "reminder", "cancellation_notice"])
@pytest.mark.parametrize(("locale", "zone", "practice_zone", "starts"), CASES)
def test_the_email_is_what_the_email_package_writes(
    sender: str, kind: str, locale: str, zone: str, practice_zone: str, starts: datetime
) -> None:
    for n in range(3):
        message = rendered_email(kind, locale, zone, practice_zone, starts, n)
        ours = smtp_email.wire(smtp_email.build(message, sender))
        reference = reference_wire(reference_build(message, sender))
        assert ours[1] == reference[1]
        same_but_boundary(ours[0], reference[0])


@pytest.mark.parametrize(
    "message",
    [
        OutboundMessage("m-1", "email", "a@example.com", "plain", "Subject", None),
        OutboundMessage("m-2", "email", "jörg@例え.example", "Grüße", "Tu cita del miércoles"),
        OutboundMessage(
            "m-3",
            "email",
            "a@example.com",
            "Hola Jörg — tu cita es el miércoles. " * 40,
            "Tu cita del miércoles, " * 6,
            "<p>" + "Zażółć gęślą jaźń 🙂 " * 30 + "</p>",
            b"BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\nSUMMARY:S\xc3\xa9ance\r\nEND:VCALENDAR\r\n",
            written_at=datetime(2026, 10, 1, 14, 5, tzinfo=UTC),
        ),
        # Lines a boundary could be mistaken for: quoted-printable writes every "=" as "=3D".
        OutboundMessage(
            "m-4",
            "email",
            "a@example.com",
            "--\n--===============1234567890123456789==\n===============\n--==\n.\n\n",
            "===============",
            "--===============0000000000000000000==--",
            b"BEGIN:VCALENDAR\r\n--===============1==\r\nEND:VCALENDAR\r\n",
        ),
        OutboundMessage("m-5", "email", "a@example.com", "", "", ""),
    ],
    ids=["plain", "international", "long-and-accented", "boundary-lookalikes", "empty"],
)
def test_odd_emails_are_also_what_the_email_package_writes(message: OutboundMessage) -> None:
    for sender in SENDERS:
        ours = smtp_email.wire(smtp_email.build(message, sender))
        reference = reference_wire(reference_build(message, sender))
        assert ours[1] == reference[1]
        same_but_boundary(ours[0], reference[0])
        [boundary] = set(BOUNDARY.findall(ours[0]))
        parts = 1 + bool(message.html) + bool(message.calendar)
        delimiters = re.findall(rb"^--" + re.escape(boundary) + rb"(?:--)?\r?$", ours[0], re.M)
        assert len(delimiters) == parts + 1  # only the message's own


def test_each_email_has_its_own_boundary() -> None:
    message = rendered_email("confirmation", *CASES[0])
    boundaries = {
        BOUNDARY.findall(smtp_email.wire(smtp_email.build(message, SENDERS[0]))[0])[0]
        for _ in range(50)
    }
    assert len(boundaries) == 50


PART_TEXTS = (
    "",
    "plain",
    "Hola Jörg — tu cita es el miércoles. " * 40,
    "line\r\nends\rand\nmore \t\nFrom the desk\n.\n",
    "=3D ===============1234567890123456789== \u00a0\u202f 🙂",
    "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nSUMMARY:Séance\r\nEND:VCALENDAR\r\n",
)


@pytest.mark.parametrize("text", PART_TEXTS)
@pytest.mark.parametrize(
    ("subtype", "method"), [("plain", None), ("html", None), ("calendar", "REQUEST")]
)
def test_a_part_is_what_the_mime_classes_make(text: str, subtype: str, method: str | None) -> None:
    reference = reference_part(text, subtype)
    if method:
        reference.set_param("method", method)
        reference.add_header("Content-Disposition", "inline", filename="invite.ics")
    part = smtp_email._part(text, subtype, method)
    assert part.items() == reference.items()
    assert part.get_payload() == reference.get_payload()
    assert part.as_bytes(policy=smtp_email.SMTP_LINES) == reference.as_bytes(
        policy=policy.compat32.clone(linesep="\r\n")
    )


def test_a_part_refuses_what_the_mime_classes_refuse() -> None:
    with pytest.raises(UnicodeEncodeError):
        reference_part("lone \udc80 surrogate", "plain")
    with pytest.raises(UnicodeEncodeError):
        smtp_email._part("lone \udc80 surrogate", "plain")


# -- the .ics: what icalendar writes ---------------------------------------------------------


@pytest.mark.parametrize("filler", ["a", "é", "例", "🙂", ",", ";", "\\", "a\\n"])
def test_an_event_is_what_icalendar_writes_at_every_length_around_the_fold(filler: str) -> None:
    """Lines from well under to well over 75 octets, ending on one- to four-byte characters
    and on TEXT escapes (which icalendar keeps whole across a fold)."""
    for size in range(40, 170):
        event = Event()
        event.add("uid", "a-1@rapport")
        event.add("summary", ("Appointment with " + filler * size)[:size])
        event.add("location", "x" * (size % 60) + filler * 3 + "y" * (size // 2))
        event.add("dtstart", datetime(2026, 3, 8, 7, 30, tzinfo=ZoneInfo("America/New_York")))
        organizer = vCalAddress("mailto:desk@example.com")
        organizer.params["CN"] = vText(filler * (size // 4))
        event.add("organizer", organizer)
        assert invites._event_ical(event) == event.to_ical(), size


@pytest.mark.parametrize(
    "kind", ["confirmation", "reschedule_notice", "course_cancellation_notice"]
)
@pytest.mark.parametrize(("locale", "zone", "practice_zone", "starts"), CASES)
def test_the_invite_is_what_icalendar_writes(
    kind: str, locale: str, zone: str, practice_zone: str, starts: datetime
) -> None:
    names = ("Harbour Street Practice", "Clínica Café de la Plaza Mayor, consulta 例え 🙂 " * 2)
    for n, name in enumerate(names):
        sessions = [
            invites.Occurrence(
                f"a-{n}-{week}",
                week + 1,
                starts + timedelta(weeks=week),
                starts + timedelta(weeks=week, minutes=50),
                location=None if week % 2 else f"Room {week}, {name}",
                video_url="https://meet.example/j/" + "x" * 60 if week == 1 else None,
            )
            for week in range(3 if kind.startswith("course_") else 1)
        ]
        raw = invites.invite(
            kind=kind,
            sessions=sessions,
            practitioner="Dr. Ana Rivera",
            practice_name=name,
            organizer_email="desk@harbourstreet.example",
            now=datetime(2026, 2, 20, 9, 30, 15, tzinfo=UTC),
            attendee_email="jordan@example.com",
            attendee_name="Jordan Zażółć",
            time_zone=practice_zone,
            practice_address="12 Harbour Street",
        )
        assert raw is not None
        calendar = Calendar.from_ical(raw)
        assert calendar.to_ical() == raw
        for event in calendar.walk("VEVENT"):
            assert invites._event_ical(event) == event.to_ical()


# -- dates and times: what Babel writes ------------------------------------------------------

DATE_LOCALES = (
    "en_US",
    "es_US",
    "pl_PL",
    "en_GB",
    "pt_BR",
    "ja_JP",
    "zh_Hant_TW",  # a day period ("B") in its short time
    "ar_EG",
    "de_DE",
    "fr_CA",
    "xx_YY",  # unknown: English
)
# Each zone's 2026 DST changes (Lord Howe moves half an hour; Sao Paulo and Phoenix none).
TRANSITIONS = {
    "America/New_York": ("2026-03-08T07:00", "2026-11-01T06:00"),
    "America/Chicago": ("2026-03-08T08:00", "2026-11-01T07:00"),
    "Europe/Warsaw": ("2026-03-29T01:00", "2026-10-25T01:00"),
    "Europe/London": ("2026-03-29T01:00", "2026-10-25T01:00"),
    "Australia/Lord_Howe": ("2026-04-04T15:00", "2026-10-03T15:30"),
    "America/Sao_Paulo": ("2026-06-01T12:00",),
    "America/Phoenix": ("2026-03-08T09:00",),
    "Asia/Kolkata": ("2026-12-31T18:30",),
    "UTC": ("2026-12-31T23:00",),
}


def babel_says(local: datetime, locale: str) -> tuple[str, str, str, str]:
    """The full date, the short date, the short time with the zone, and without: from Babel."""
    try:
        parsed = Locale.parse(locale)
    except UnknownLocaleError:
        parsed = Locale.parse("en_US")

    def plain(text: str) -> str:
        return text.replace("\u202f", " ").replace("\u00a0", " ")

    clock = plain(babel_dates.format_time(local, "short", tzinfo=local.tzinfo, locale=parsed))
    return (
        plain(babel_dates.format_date(local, format="full", locale=parsed)),
        plain(babel_dates.format_skeleton("MMMEd", local, locale=parsed)),
        f"{clock} {local.tzname()}",
        clock,
    )


def instants(zone: str) -> list[datetime]:
    """Every half hour from three hours before to three after each change, in the zone."""
    found = []
    for at in TRANSITIONS[zone]:
        change = datetime.fromisoformat(at).replace(tzinfo=UTC)
        found += [
            (change + timedelta(minutes=30 * step)).astimezone(ZoneInfo(zone))
            for step in range(-6, 7)
        ]
    return found


@pytest.mark.parametrize("zone", sorted(TRANSITIONS))
def test_dates_and_times_are_what_babel_writes_across_dst(zone: str) -> None:
    for local in instants(zone):
        for locale in DATE_LOCALES:
            for _ in range(2):  # written, then kept
                assert (
                    dates.format_date(local, locale),
                    templates.format_short_date(local, locale),
                    dates.format_time(local, locale),
                    dates.format_time(local, locale, with_zone=False),
                ) == babel_says(local, locale), (local, locale)


def test_a_wall_clock_a_dst_change_skips_or_repeats_is_not_taken_for_another() -> None:
    """2:30 on a spring-forward night is the instant 3:30 is; 1:30 on a fall-back night is two
    instants (fold), and 5:30 UTC the first of them: each is written as Babel writes it,
    whichever was written first."""
    new_york = ZoneInfo("America/New_York")
    for clock in (
        datetime(2026, 3, 8, 3, 30, tzinfo=new_york),
        datetime(2026, 3, 8, 2, 30, tzinfo=new_york),  # skipped
        datetime(2026, 3, 8, 2, 30, fold=1, tzinfo=new_york),
        datetime(2026, 11, 1, 1, 30, tzinfo=new_york),  # EDT
        datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=new_york),  # EST
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # the first 1:30, in UTC
        datetime(2026, 11, 1, 1, 30),  # naive
    ):
        for locale in ("en_US", "pl_PL"):
            assert (
                dates.format_date(clock, locale),
                templates.format_short_date(clock, locale),
                dates.format_time(clock, locale),
                dates.format_time(clock, locale, with_zone=False),
            ) == babel_says(clock, locale), clock


@pytest.mark.parametrize(("locale", "zone", "practice_zone", "starts"), CASES)
def test_a_context_says_what_babel_writes(
    locale: str, zone: str, practice_zone: str, starts: datetime
) -> None:
    for hours in range(0, 48, 5):
        at = starts + timedelta(hours=hours)
        values = templates.context(
            practice_name="P",
            practice_phone="1",
            practitioner="X",
            starts_at=at,
            time_zone=zone,
            locale=locale,
            practice_time_zone=practice_zone,
        )
        here, there = at.astimezone(ZoneInfo(zone)), at.astimezone(ZoneInfo(practice_zone))
        date, short_date, time, _ = babel_says(here, locale)
        practice_time = (
            babel_says(there, locale)[3] if here.utcoffset() != there.utcoffset() else ""
        )
        assert (values["date"], values["short_date"], values["time"]) == (date, short_date, time)
        assert values["practice_time"] == practice_time


# -- the SMS text: what sms_text.plain writes ------------------------------------------------


def test_the_sms_body_is_what_plain_writes_for_every_character() -> None:
    """Every character of the Basic Multilingual Plane (surrogates too) and a sample beyond,
    alone and in one text: written as ``sms_text.plain`` writes it."""
    astral = [0x1F642, 0x1F1F5, 0x1F1F1, 0x1D400, 0x20000, 0x10FFFF]
    characters = [chr(code) for code in [*range(0x10000), *astral]]
    assert templates.sms_body("".join(characters)) == sms_text.plain("".join(characters))
    for character in characters[:0x800] + characters[-len(astral) :]:
        assert templates.sms_body(character) == sms_text.plain(character)


@pytest.mark.parametrize("locale", [case[0] for case in CASES])
def test_every_default_sms_is_what_plain_writes(locale: str) -> None:
    kinds = [kind for kind, channel in templates.DEFAULTS if channel == "sms"]
    for kind in kinds:
        starts = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
        values: dict[str, object]
        if kind.startswith("course_"):
            values = templates.course_context(
                practice_name="Łódź Śródmieście — “Zdrowie”…",
                practice_phone="+48 42 555 01 00",
                practitioner="Dr. Zażółć Gęślą-Jaźń",
                starts=[starts + timedelta(weeks=w) for w in range(3)],
                time_zone="Europe/Warsaw",
                locale=locale,
            )
        else:
            values = dict(
                templates.context(
                    practice_name="Łódź Śródmieście — “Zdrowie”…",
                    practice_phone="+48 42 555 01 00",
                    practitioner="Dr. Zażółć Gęślą-Jaźń 🙂",
                    starts_at=starts,
                    time_zone="Europe/Warsaw",
                    locale=locale,
                    practice_time_zone="America/New_York",
                )
            )
        text = templates.render(templates.DEFAULTS[(kind, "sms")], values).text
        assert templates.sms_body(text) == sms_text.plain(text)
