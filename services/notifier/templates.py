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
from datetime import datetime
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

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
    "time",
    "practice_time",
    "first_name",
)
# A course's messages also see how many sessions, when they are, and each one's date and time.
COURSE_VARIABLES = ("how_many", "course", "first_date", "dates", "session_list")
DEFAULT_LOCALE = "en_US"
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


_SMS_HELP = "Reply C to confirm or R and we will call you. Questions: {{ practice_phone }}."
# The practice's clock, when it reads differently from the client's, follows in brackets.
_WHEN = (
    "{{ date }} at {{ time }}"
    "{% if practice_time %} ({{ practice_time }} at the practice){% endif %}"
)

DEFAULTS: dict[tuple[str, str], Template] = {
    ("confirmation", "sms"): Template(
        "{{ practice_name }}: your appointment with {{ practitioner }} is booked for "
        f"{_WHEN}. {_SMS_HELP}"
    ),
    ("reminder", "sms"): Template(
        "{{ practice_name }}: reminder of your appointment with {{ practitioner }} on "
        f"{_WHEN}. {_SMS_HELP}"
    ),
    ("reschedule_notice", "sms"): Template(
        "{{ practice_name }}: your appointment with {{ practitioner }} has moved to "
        f"{_WHEN}. Questions: {{{{ practice_phone }}}}."
    ),
    ("cancellation_notice", "sms"): Template(
        "{{ practice_name }}: your appointment with {{ practitioner }} on "
        f"{_WHEN} is cancelled. To book again call {{{{ practice_phone }}}}."
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
# The answer to a client's "C": which session it confirmed (sent by SMS, where the reply came).
DEFAULTS[("reply_confirmed", "sms")] = Template(
    "{{ practice_name }}: thank you, your appointment with {{ practitioner }} on "
    f"{_WHEN} is confirmed. Questions: {{{{ practice_phone }}}}."
)
_EMAIL_SUBJECTS["reply_confirmed"] = "Your appointment on {{ date }} is confirmed"
_EMAIL_LINES["reply_confirmed"] = (
    f"Thank you: your appointment with {{{{ practitioner }}}} on {_WHEN} is confirmed."
)
for _kind, _line in _EMAIL_LINES.items():
    DEFAULTS[(_kind, "email")] = Template(
        text=f"{_line}\n\n{_EMAIL_CLOSE}\n\n{{{{ practice_name }}}}\n",
        subject=_EMAIL_SUBJECTS[_kind],
        html=f"<p>{_line}</p>\n<p>{_EMAIL_CLOSE}</p>\n<p>{{{{ practice_name }}}}</p>\n",
    )

_COURSE_SMS = {
    "course_confirmation": "{{ practice_name }}: {{ how_many }} with {{ practitioner }} booked, "
    "{{ course }}.{% if dates %} Dates: {{ dates }}.{% endif %} Questions: {{ practice_phone }}",
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
    DEFAULTS[(_kind, "email")] = Template(
        text=f"{_line}\n\n{{% for s in session_list %}}- {{{{ s }}}}\n{{% endfor %}}\n"
        f"{_EMAIL_CLOSE}\n\n{{{{ practice_name }}}}\n",
        subject=_subject,
        html=f"<p>{_line}</p>\n<ul>{{% for s in session_list %}}<li>{{{{ s }}}}</li>{{% endfor %}}"
        f"</ul>\n<p>{_EMAIL_CLOSE}</p>\n<p>{{{{ practice_name }}}}</p>\n",
    )

_text_env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
_html_env = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)


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
        "time": format_time(local, locale),
        "practice_time": practice_time,
        "first_name": first_name,
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
) -> dict[str, object]:
    """The values a course's template sees, in the client's zone and locale: ``how_many``
    ("12 appointments"), ``course`` ("every Tuesday at 2:00 PM EDT from March 10, 2026", or just
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
        )
    )
    first_date = _plain_spaces(
        babel_dates.format_date(first, format="long", locale=_babel_locale(locale))
    )
    weeks = weekly_rhythm(local)
    if weeks and len(local) > 1:
        weekday = babel_dates.format_date(first, format="EEEE", locale=_babel_locale(locale))
        every = "every" if weeks == 1 else f"every {weeks} weeks on"
        course = f"{every} {weekday} at {values['time']} from {first_date}"
        dates = ""
    else:
        course = f"from {first_date} at {values['time']}"
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
    text = babel_dates.format_skeleton("MMMd", local, locale=_babel_locale(locale))
    if with_time:
        text += " " + format_time(local, locale, with_zone=False)
    return _plain_spaces(text)


def _babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse(locale)
    except (ValueError, TypeError, UnknownLocaleError):
        # A projection holds only what the scheduler validated; this is a last resort.
        return Locale.parse(DEFAULT_LOCALE)


def _plain_spaces(text: str) -> str:
    # CLDR puts narrow no-break spaces before AM/PM; they would push an SMS out of GSM-7.
    return text.replace("\u202f", " ").replace("\u00a0", " ")


def format_date(local: datetime, locale: str = DEFAULT_LOCALE) -> str:
    """The full date in the locale: "Monday, November 2, 2026", "lunes, 2 de noviembre de
    2026", "poniedziałek, 2 listopada 2026"."""
    text = babel_dates.format_date(local, format="full", locale=_babel_locale(locale))
    return _plain_spaces(text)


def format_time(local: datetime, locale: str = DEFAULT_LOCALE, *, with_zone: bool = True) -> str:
    """The short time in the locale, plus the zone's abbreviation: "3:00 PM EST", "15:00 CET"."""
    text = babel_dates.format_time(
        local, format="short", tzinfo=local.tzinfo, locale=_babel_locale(locale)
    )
    text = _plain_spaces(text)
    return f"{text} {local.tzname()}" if with_zone else text


def render(template: Template, values: Mapping[str, object]) -> Rendered:
    return Rendered(
        text=_text_env.from_string(template.text).render(values).strip(),
        subject=_text_env.from_string(template.subject).render(values).strip()
        if template.subject
        else None,
        html=_html_env.from_string(template.html).render(values) if template.html else None,
    )


class TemplateProblem(ValueError):
    pass


def check(template: Template, channel: str) -> None:
    """Refuse a template that does not render, or that invites a carrier opt-out keyword."""
    sample: dict[str, object] = {name: "x" for name in (*VARIABLES, *COURSE_VARIABLES)}
    sample["session_list"] = ["x", "y"]
    try:
        rendered = render(template, sample)
    except TemplateError as exc:
        raise TemplateProblem(f"the template does not render: {exc}") from exc
    for part in (template.text, template.subject or "", template.html or ""):
        if FORBIDDEN.search(part):
            raise TemplateProblem(
                "do not ask clients to reply CANCEL, END, QUIT or UNSUBSCRIBE: carriers treat "
                "them as opting out of every message"
            )
    if channel == "email" and not rendered.subject:
        raise TemplateProblem("an email template needs a subject")
