"""Message wording per kind and channel: defaults here, the practice's edits in the database,
rendered in a sandboxed Jinja2 environment: dates and times in the client's time zone and
CLDR locale (Babel), with the practice's clock added when it reads differently. The fixed
wording is English; a practice serving clients in another language edits the templates.

The default wording carries only the practice, the practitioner, the date and time, and how to
confirm or reach the practice: no diagnosis, no kind of therapy. It never suggests replying
CANCEL, which carriers treat as an opt-out from every message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from jinja2 import StrictUndefined

from services.notifier import sms_text
from services.notifier.bounded_jinja import BoundedEnvironment, TemplateLimit, render_bounded
from shared import dates

KINDS = (
    "confirmation",
    "reminder",
    "reschedule_notice",
    "cancellation_notice",
    "course_confirmation",
    "course_reschedule_notice",
    "course_cancellation_notice",
    "reply_confirmed",
)
CHANNELS = ("sms", "email")
VARIABLES = (
    "practice_name",
    "practice_phone",
    "practitioner",
    "date",
    "short_date",
    "time",
    "practice_time",
    "first_name",
    "location",
    "join_url",
    "sms_link",
    "manage_url",
)
# A course's messages also see how many sessions, when they are, and each one's date and time.
COURSE_VARIABLES = ("how_many", "course", "first_date", "dates", "session_list")
DEFAULT_LOCALE = dates.DEFAULT_LOCALE
# Carrier opt-out keywords a template must not invite the client to send.
FORBIDDEN = re.compile(r"\b(CANCEL|STOPALL|UNSUBSCRIBE|END|QUIT)\b")


@dataclass(frozen=True)
class Template:
    text: str
    subject: str | None = None
    html: str | None = None


@dataclass(frozen=True)
class Rendered:
    text: str
    subject: str | None
    html: str | None


_SMS_HELP = "Reply C to confirm, R for a call."
# The practice's clock, when it reads differently from the client's, follows in brackets.
_WHEN = (
    "{{ date }} at {{ time }}"
    "{% if practice_time %} ({{ practice_time }} at the practice){% endif %}"
)
# An SMS says the date short ("Wed, Apr 15") and little else, so that with an ordinary name it
# fits one GSM-7 segment (160 characters) in every locale, the practice's clock included.
_SMS_WHEN = (
    "{{ short_date }} at {{ time }}{% if practice_time %} ({{ practice_time }} there){% endif %}"
)

# The session's own page, when it has one, in place of the reply keywords and the phone: the
# link is what lets the message stay one segment.
_SMS_NEXT = (
    "{% if manage_url %}Confirm or change: {{ manage_url }}"
    f"{{% else %}}{_SMS_HELP} {{{{ practice_phone }}}}{{% endif %}}"
)

DEFAULTS: dict[tuple[str, str], Template] = {
    ("confirmation", "sms"): Template(
        f"{{{{ practice_name }}}}: booked for {_SMS_WHEN} with {{{{ practitioner }}}}. " + _SMS_NEXT
    ),
    ("reminder", "sms"): Template(
        f"{{{{ practice_name }}}}: reminder of {_SMS_WHEN} with {{{{ practitioner }}}}. "
        + _SMS_NEXT
    ),
    ("reschedule_notice", "sms"): Template(
        "{{ practice_name }}: your appointment with {{ practitioner }} has moved to "
        f"{_SMS_WHEN}. Questions: {{{{ practice_phone }}}}"
    ),
    ("cancellation_notice", "sms"): Template(
        "{{ practice_name }}: your appointment with {{ practitioner }} on "
        f"{_SMS_WHEN} is cancelled. To rebook call {{{{ practice_phone }}}}"
    ),
}

_EMAIL_SUBJECTS = {
    "confirmation": "Your appointment on {{ date }}",
    "reminder": "Reminder: your appointment on {{ date }}",
    "reschedule_notice": "Your appointment has moved to {{ date }}",
    "cancellation_notice": "Your appointment on {{ date }} is cancelled",
}
_EMAIL_LINES = {
    "confirmation": f"Your appointment with {{{{ practitioner }}}} is booked for {_WHEN}.",
    "reminder": f"This is a reminder of your appointment with {{{{ practitioner }}}} on {_WHEN}.",
    "reschedule_notice": f"Your appointment with {{{{ practitioner }}}} has moved to {_WHEN}.",
    "cancellation_notice": f"Your appointment with {{{{ practitioner }}}} on {_WHEN} is cancelled.",
}
_EMAIL_CLOSE = "To confirm, change the time or ask anything, call us on {{ practice_phone }}."
# Confirmations and reminders link to the session's own page, when it has one.
_MANAGE_TEXT = (
    "{% if manage_url %}\n\nConfirm, cancel, add it to your calendar or ask for another time: "
    "{{ manage_url }}{% endif %}"
)
_MANAGE_HTML = (
    '{% if manage_url %}\n<p><a href="{{ manage_url }}">Confirm, cancel, add it to your '
    "calendar or ask for another time</a></p>{% endif %}"
)
_WITH_LINK = ("confirmation", "reminder", "course_confirmation")
# Where to be: a video session's join link, else the address.
_WHERE_TEXT = (
    "{% if join_url %}\n\nJoin the video call: {{ join_url }}"
    "{% elif location %}\n\nWhere: {{ location }}{% endif %}"
)
_WHERE_HTML = (
    '{% if join_url %}\n<p>Join the video call: <a href="{{ join_url }}">{{ join_url }}</a></p>'
    "{% elif location %}\n<p>Where: {{ location }}</p>{% endif %}"
)
# In an SMS only when the practice chooses (the policy's sms_join_link).
_SMS_LINK = "{% if sms_link %}. Join: {{ sms_link }}{% endif %}"
for _kind in ("confirmation", "reminder", "reschedule_notice"):
    DEFAULTS[(_kind, "sms")] = Template(DEFAULTS[(_kind, "sms")].text + _SMS_LINK)
# The answer to a client's "C": which session it confirmed (sent by SMS, where the reply came).
DEFAULTS[("reply_confirmed", "sms")] = Template(
    f"{{{{ practice_name }}}}: thank you, your appointment on {_SMS_WHEN} with "
    "{{ practitioner }} is confirmed. {{ practice_phone }}"
)
_EMAIL_SUBJECTS["reply_confirmed"] = "Your appointment on {{ date }} is confirmed"
_EMAIL_LINES["reply_confirmed"] = (
    f"Thank you: your appointment with {{{{ practitioner }}}} on {_WHEN} is confirmed."
)
for _kind, _line in _EMAIL_LINES.items():
    _where = ("", "") if _kind == "cancellation_notice" else (_WHERE_TEXT, _WHERE_HTML)
    if _kind in _WITH_LINK:
        _where = (_where[0] + _MANAGE_TEXT, _where[1] + _MANAGE_HTML)
    DEFAULTS[(_kind, "email")] = Template(
        text=f"{_line}{_where[0]}\n\n{_EMAIL_CLOSE}\n\n{{{{ practice_name }}}}\n",
        subject=_EMAIL_SUBJECTS[_kind],
        html=f"<p>{_line}</p>{_where[1]}\n<p>{_EMAIL_CLOSE}</p>\n<p>{{{{ practice_name }}}}</p>\n",
    )

_COURSE_SMS = {
    "course_confirmation": "{{ practice_name }}: {{ how_many }} with {{ practitioner }} booked, "
    "{{ course }}.{% if dates %} Dates: {{ dates }}.{% endif %} {% if manage_url %}"
    "First one: {{ manage_url }}{% else %}Questions: {{ practice_phone }}{% endif %}",
    "course_reschedule_notice": "{{ practice_name }}: your {{ how_many }} with {{ practitioner }} "
    "have moved: {{ course }}.{% if dates %} Dates: {{ dates }}.{% endif %} "
    "Questions: {{ practice_phone }}",
    "course_cancellation_notice": "{{ practice_name }}: your {{ how_many }} with "
    "{{ practitioner }} from {{ first_date }} are cancelled. To book again call "
    "{{ practice_phone }}",
}
_COURSE_EMAIL = {
    "course_confirmation": (
        "Your {{ how_many }} from {{ first_date }}",
        "Your {{ how_many }} with {{ practitioner }} are booked, {{ course }}:",
    ),
    "course_reschedule_notice": (
        "Your {{ how_many }} have moved",
        "Your {{ how_many }} with {{ practitioner }} have moved: {{ course }}:",
    ),
    "course_cancellation_notice": (
        "Your {{ how_many }} from {{ first_date }} are cancelled",
        "Your {{ how_many }} with {{ practitioner }} are cancelled:",
    ),
}
for _kind, _sms in _COURSE_SMS.items():
    DEFAULTS[(_kind, "sms")] = Template(_sms)
for _kind, (_subject, _line) in _COURSE_EMAIL.items():
    _where = ("", "") if _kind == "course_cancellation_notice" else (_WHERE_TEXT, _WHERE_HTML)
    if _kind in _WITH_LINK:
        _where = (
            _where[0] + _MANAGE_TEXT.replace("Confirm,", "For the first one: confirm,"),
            _where[1] + _MANAGE_HTML.replace("Confirm,", "For the first one: confirm,"),
        )
    DEFAULTS[(_kind, "email")] = Template(
        text=f"{_line}\n\n{{% for s in session_list %}}- {{{{ s }}}}\n{{% endfor %}}"
        f"{_where[0].replace(chr(10) * 2, chr(10))}\n{_EMAIL_CLOSE}\n\n{{{{ practice_name }}}}\n",
        subject=_subject,
        html=f"<p>{_line}</p>\n<ul>{{% for s in session_list %}}<li>{{{{ s }}}}</li>{{% endfor %}}"
        f"</ul>{_where[1]}\n<p>{_EMAIL_CLOSE}</p>\n<p>{{{{ practice_name }}}}</p>\n",
    )

_text_env = BoundedEnvironment(autoescape=False, undefined=StrictUndefined)
_html_env = BoundedEnvironment(autoescape=True, undefined=StrictUndefined)


def context(
    *,
    practice_name: str,
    practice_phone: str,
    practitioner: str,
    starts_at: datetime,
    time_zone: str,
    first_name: str = "",
    locale: str = DEFAULT_LOCALE,
    practice_time_zone: str | None = None,
    location: str | None = None,
    join_url: str | None = None,
    sms_link: bool = False,
    manage_url: str | None = None,
) -> dict[str, str]:
    """The values a template sees. ``date`` and ``time`` are the client's wall clock in the
    client's locale; ``practice_time`` is the session's time where it takes place (the
    practitioner's zone), given only when that clock reads differently from the client's."""
    local = starts_at.astimezone(ZoneInfo(time_zone))
    practice_time = ""
    if practice_time_zone:
        there = starts_at.astimezone(ZoneInfo(practice_time_zone))
        if there.utcoffset() != local.utcoffset():
            practice_time = format_time(there, locale, with_zone=False)
    return {
        "practice_name": practice_name,
        "practice_phone": practice_phone,
        "practitioner": practitioner,
        "date": format_date(local, locale),
        "short_date": format_short_date(local, locale),
        "time": format_time(local, locale),
        "practice_time": practice_time,
        "first_name": first_name,
        "location": location or "",
        "join_url": join_url or "",
        "sms_link": (join_url or "") if sms_link else "",
        "manage_url": manage_url or "",
    }


def course_context(
    *,
    practice_name: str,
    practice_phone: str,
    practitioner: str,
    starts: list[datetime],
    time_zone: str,
    first_name: str = "",
    locale: str = DEFAULT_LOCALE,
    location: str | None = None,
    join_url: str | None = None,
    manage_url: str | None = None,
) -> dict[str, object]:
    """The values a course's template sees, in the client's zone and locale: ``how_many``
    ("12 appointments"), ``course`` ("every Tuesday at 2:00 PM EDT from Mar 10, 2026", or just
    the first date and time when the sessions do not keep one weekly rhythm), ``dates`` (the
    dates when they do not, else empty) and ``session_list`` (each session's date and time)."""
    zone = ZoneInfo(time_zone)
    local = sorted(s.astimezone(zone) for s in starts)
    first = local[0]
    values: dict[str, object] = dict(
        context(
            practice_name=practice_name,
            practice_phone=practice_phone,
            practitioner=practitioner,
            starts_at=first,
            time_zone=time_zone,
            first_name=first_name,
            locale=locale,
            location=location,
            join_url=join_url,
            manage_url=manage_url,
        )
    )
    first_date = _plain_spaces(
        babel_dates.format_date(first, format="long", locale=_babel_locale(locale))
    )
    # The course itself says its first date short ("Sep 30, 2026"), to keep an SMS one segment.
    since = _format_skeleton("yMMMd", first, locale)
    weeks = weekly_rhythm(local)
    if weeks and len(local) > 1:
        weekday = babel_dates.format_date(first, format="EEEE", locale=_babel_locale(locale))
        every = "every" if weeks == 1 else f"every {weeks} weeks on"
        course = f"{every} {weekday} at {values['time']} from {since}"
        dates = ""
    else:
        course = f"from {since} at {values['time']}"
        same_time = all(s.time() == first.time() for s in local)
        dates = ", ".join(_short_date(s, locale, with_time=not same_time) for s in local)
    values |= {
        "how_many": f"{len(local)} appointment" + ("" if len(local) == 1 else "s"),
        "course": course,
        "first_date": first_date,
        "dates": dates,
        "session_list": [f"{format_date(s, locale)} at {format_time(s, locale)}" for s in local],
    }
    return values


def weekly_rhythm(local: list[datetime]) -> int | None:
    """1 or 2 when the sessions keep one weekday and wall-clock time every week or every other
    week (DST aside: it is the client's own clock), else None."""
    if any(s.time() != local[0].time() for s in local):
        return None
    gaps = {(b.date() - a.date()).days for a, b in zip(local, local[1:], strict=False)}
    if len(gaps) > 1:
        return None
    gap = gaps.pop() if gaps else 7
    return gap // 7 if gap in (7, 14) else None


def _short_date(local: datetime, locale: str, *, with_time: bool) -> str:
    text = _format_skeleton("MMMd", local, locale)
    if with_time:
        text += " " + format_time(local, locale, with_zone=False)
    return text


_babel_locale = dates.babel_locale
_plain_spaces = dates.plain_spaces
_format_skeleton = dates.format_skeleton
format_date = dates.format_date
format_time = dates.format_time


def format_short_date(local: datetime, locale: str = DEFAULT_LOCALE) -> str:
    """Weekday, month and day, abbreviated in the locale: "Wed, Apr 15", "mié, 15 de abr"."""
    return _format_skeleton("MMMEd", local, locale)


class TemplateProblem(ValueError):
    pass


def render(template: Template, values: Mapping[str, object]) -> Rendered:
    """The template with its values, in the bounded sandbox (``bounded_jinja``). A template is
    the practice's own code, so whatever it raises is its failure: ``TemplateProblem``."""
    try:
        return Rendered(
            text=render_bounded(_text_env, template.text, values).strip(),
            subject=render_bounded(_text_env, template.subject, values).strip()
            if template.subject
            else None,
            html=render_bounded(_html_env, template.html, values) if template.html else None,
        )
    except TemplateLimit as exc:
        raise TemplateProblem(f"the template goes past a limit: {exc}") from exc
    except Exception as exc:
        raise TemplateProblem(f"the template does not render: {exc}") from exc


@dataclass(frozen=True)
class Sample:
    """A template rendered with ordinary values, and what an SMS of it costs."""

    text: str
    encoding: str | None = None
    characters: int | None = None
    segments: int | None = None


def sample_values(
    kind: str,
    practice_name: str = "Harbour Street Therapy",
    practice_phone: str = "+1 617 555 0100",
) -> dict[str, object]:
    """Ordinary values: the practitioner's clock an hour off the client's (the longer default),
    and for a course twelve weekly appointments."""
    first = datetime(2026, 9, 30, 15, 0, tzinfo=ZoneInfo("America/New_York"))
    if kind.startswith("course_"):
        return course_context(
            practice_name=practice_name,
            practice_phone=practice_phone,
            practitioner="Dr. Ana Rivera",
            starts=[first + timedelta(weeks=i) for i in range(12)],
            time_zone="America/New_York",
            first_name="Jordan",
        )
    return dict(
        context(
            practice_name=practice_name,
            practice_phone=practice_phone,
            practitioner="Dr. Ana Rivera",
            starts_at=first,
            time_zone="America/New_York",
            first_name="Jordan",
            practice_time_zone="America/Chicago",
        )
    )


class _PlainLetters(dict[int, str]):
    """What ``sms_text.plain`` writes for each character, as ``str.translate`` looks it up. It
    writes every character independently of the others (a table, then a test of each letter),
    so the text translated with what it writes for each character is what it writes for the
    text, in a sixtieth of the time: its GSM-7 test runs a pure-Python codec for every
    character of every message."""

    def __missing__(self, code: int) -> str:
        plain = sms_text.plain(chr(code))
        if len(self) < 4096:
            self[code] = plain
        return plain


_PLAIN_LETTERS = _PlainLetters()


def sms_body(text: str) -> str:
    """What an SMS carries: the rendered text in GSM-7 where it has the letters."""
    return text.translate(_PLAIN_LETTERS)


def sample(template: Template, kind: str, channel: str, **practice: str) -> Sample:
    rendered = render(template, sample_values(kind, **practice))
    if channel != "sms":
        return Sample(rendered.text)
    body = sms_body(rendered.text)
    cost = sms_text.count(body)
    return Sample(body, cost.encoding, cost.characters, cost.segments)


def check(template: Template, channel: str, kind: str = "reminder", **practice: str) -> Sample:
    """Refuse a template that does not render, invites a carrier opt-out keyword, or (SMS) takes
    more than three segments with ordinary values; else the rendered sample and its cost."""
    values: dict[str, object] = {name: "x" for name in (*VARIABLES, *COURSE_VARIABLES)}
    values["session_list"] = ["x", "y"]
    rendered = render(template, values)
    found = sample(template, kind, channel, **practice)
    for part in (template.text, template.subject or "", template.html or ""):
        if FORBIDDEN.search(part):
            raise TemplateProblem(
                "do not ask clients to reply CANCEL, END, QUIT or UNSUBSCRIBE: carriers treat "
                "them as opting out of every message"
            )
    if channel == "email" and not rendered.subject:
        raise TemplateProblem("an email template needs a subject")
    if found.segments is not None and found.segments > sms_text.MAX_SEGMENTS:
        raise TemplateProblem(
            f"with ordinary values this SMS is {found.characters} {found.encoding} characters, "
            f"{found.segments} segments; keep it to {sms_text.MAX_SEGMENTS} at most (one is "
            "160 GSM-7 characters, or 70 when it needs other characters such as emoji)"
        )
    return found
