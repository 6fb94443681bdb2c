"""The practice's templates run in a bounded sandbox: each construct that could make the
notifier loop, allocate or recurse without end is refused before it runs, with the limit named;
ordinary wording (loops over the sessions, filters, string methods) still renders."""

from __future__ import annotations

import pytest

from services.notifier import bounded_jinja, templates

EXHAUSTING = {
    "huge-range": ("{% for i in range(10**9) %}x{% endfor %}", "at most 1000"),
    "range-past-limit": ("{% for i in range(500) %}{% endfor %}", "range\\(\\) may give"),
    "string-times-huge": ("{{ 'x' * 100000000 }}", "at most 5000 characters"),
    "list-times-huge": ("{{ session_list * 100000000 }}", "at most 5000 characters"),
    "huge-power": ("{{ 2 ** 100000 }}", "below 2\\*\\*64"),
    "huge-product": ("{{ (2 ** 60) * (2 ** 60) * (2 ** 60) }}", "below 2\\*\\*64"),
    "wide-center": ("{{ 'x'|center(100000000) }}", "at most 1000"),
    "wide-format": ("{{ '{:>999999999}'.format(1) }}", "may not call format"),
    "percent-format": ("{{ '%999999999d' % 1 }}", "formatting with %"),
    "replace-squares": ("{{ ('x' * 1000).replace('', 'y' * 1000) }}", "5000 characters"),
    "join-squares": ("{{ ('x' * 1000)|join('y' * 1000) }}", "5000 characters"),
    "deep-parentheses": ("{{ " + "(" * 400 + "1" + ")" * 400 + " }}", "nest at most 24"),
    "deep-ifs": ("{% if 1 %}" * 30 + "x" + "{% endif %}" * 30, "nest at most 24"),
    "recursive-macro": ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "macro tag"),
    "recursive-loop": (
        "{% for s in session_list recursive %}{{ loop(s) }}{% endfor %}",
        "recursive loops",
    ),
    "nested-loops": (
        "{% for a in 'x' * 1000 %}{% for b in 'y' * 1000 %}{% endfor %}{% endfor %}",
        "loops may turn at most 5000",
    ),
    "huge-output": (
        "{% for a in range(100) %}{% for b in range(40) %}{{ 'x' * 1000 }}{% endfor %}{% endfor %}",
        "at most 50000 characters",
    ),
    "accumulating-namespace": ("{% set ns = namespace(s='x') %}{{ ns.s }}", "namespace"),
    "mutating-list": ("{% set l = [] %}{{ l.append(l) }}", "unsafe"),
    "lorem-ipsum": ("{{ lipsum(100000) }}", "lipsum"),
    "unlisted-filter": ("{{ 'x'|indent(100000) }}", "indent"),
    "division-by-zero": ("{{ 1 / 0 }}", "does not render"),
}


@pytest.mark.parametrize("text, why", EXHAUSTING.values(), ids=list(EXHAUSTING))
def test_a_template_that_could_exhaust_the_notifier_is_refused(text: str, why: str) -> None:
    with pytest.raises(templates.TemplateProblem, match=why):
        templates.check(templates.Template(text, subject="Hello"), "email")


@pytest.mark.parametrize("part", ["subject", "html"])
def test_the_subject_and_html_are_bounded_too(part: str) -> None:
    fields = {"text": "Hello", "subject": "Hello", "html": "<p>Hello</p>"}
    fields[part] = "{{ 'x' * 100000000 }}"
    with pytest.raises(templates.TemplateProblem, match="limit"):
        templates.check(templates.Template(**fields), "email")


def test_ordinary_wording_with_loops_filters_and_methods_still_renders() -> None:
    text = (
        "Hi {{ first_name|default('there')|title }}, {{ how_many }} with {{ practitioner }}:\n"
        "{% for s in session_list %}{{ loop.index }}. {{ s|trim }}\n{% endfor %}"
        "{{ practice_name.upper() }} {{ practice_phone.replace(' ', '-') }} "
        "{{ session_list|join('; ')|truncate(400) }}{% for i in range(3) %}!{% endfor %}"
    )
    values = templates.sample_values("course_confirmation")
    rendered = templates.render(templates.Template(text, subject="{{ how_many }}"), values)
    assert rendered.text.startswith("Hi Jordan, 12 appointments with Dr. Ana Rivera:\n1. ")
    assert "\n12. " in rendered.text
    assert "HARBOUR STREET THERAPY +1-617-555-0100" in rendered.text
    assert rendered.text.endswith("...!!!")  # the list cut at 400 characters, then the loop
    assert rendered.subject == "12 appointments"


def test_every_default_template_renders_within_the_limits() -> None:
    for (kind, _channel), template in templates.DEFAULTS.items():
        rendered = templates.render(template, templates.sample_values(kind))
        assert 0 < len(rendered.text) <= bounded_jinja.MAX_RENDERED


def test_the_iteration_allowance_is_per_rendering() -> None:
    text = "{% for a in range(100) %}{% for b in range(40) %}{% endfor %}{% endfor %}ok"
    template = templates.Template(text)
    for _ in range(3):  # 4000 turns each time: under the allowance, which starts afresh
        assert templates.render(template, {}).text == "ok"
