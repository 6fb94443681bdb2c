"""A Jinja2 sandbox with limits, for the practice's own message templates: a template may not
make the notifier loop, allocate or recurse without end. Each limit is a number below; a
template that meets one fails with ``TemplateLimit`` (a ``SecurityError``), on saving and at
send time alike.

The sandbox itself stops attribute tricks; these limits stop exhaustion: loops are counted,
calls and filters are a short allow-list whose numbers and strings are bounded, string and
list repetition is checked before it runs, and the rendered text is cut off at a maximum.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache, wraps
from typing import Any

from jinja2 import nodes
from jinja2.defaults import DEFAULT_FILTERS
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Joiner

MAX_RANGE = 100  # items a range() may produce
MAX_NUMBER = 1000  # largest integer a call or filter takes (widths, counts, lengths)
MAX_STRING = 5000  # longest string or list an expression may build
MAX_ITERATIONS = 5000  # loop turns in one rendering, all loops together
MAX_NESTING = 24  # depth of nested tags and expressions in a template
MAX_RENDERED = 50_000  # characters one rendered part (text, subject, HTML) may have

# What a message template may call: plain string methods, and the dictionary's readers.
STR_METHODS = frozenset(
    {
        "capitalize",
        "casefold",
        "count",
        "endswith",
        "find",
        "isalpha",
        "isdigit",
        "islower",
        "isspace",
        "isupper",
        "lower",
        "lstrip",
        "replace",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "upper",
    }
)
DICT_METHODS = frozenset({"get", "items", "keys", "values"})
FILTERS = frozenset(
    {
        "abs",
        "capitalize",
        "center",
        "count",
        "d",
        "default",
        "e",
        "escape",
        "first",
        "float",
        "int",
        "join",
        "last",
        "length",
        "list",
        "lower",
        "replace",
        "reverse",
        "round",
        "sort",
        "string",
        "striptags",
        "title",
        "trim",
        "truncate",
        "unique",
        "upper",
        "wordcount",
        "wordwrap",
    }
)
# Tags that would let a template call itself or reach other templates.
REFUSED_TAGS: dict[type[nodes.Node], str] = {
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from … import",
    nodes.Extends: "extends",
    nodes.Block: "block",
}
_ITERATIONS_LEFT: contextvars.ContextVar[list[int]] = contextvars.ContextVar("iterations_left")


class TemplateLimit(SecurityError):
    """A template went past one of the limits above."""


def _number(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
        raise TemplateLimit(f"numbers given to a call or filter may be at most {MAX_NUMBER}")


def _arguments(args: Iterable[Any]) -> None:
    for value in args:
        _number(value)
        if isinstance(value, str | list | tuple) and len(value) > MAX_STRING:
            raise TemplateLimit(f"a value may be at most {MAX_STRING} characters or items")


def _sized(result: Any) -> Any:
    if isinstance(result, str | list | tuple) and len(result) > MAX_STRING:
        raise TemplateLimit(f"a value may be at most {MAX_STRING} characters or items")
    return result


def _replace_fits(text: Any, old: Any, new: Any) -> None:
    """str.replace grows text by the number of matches times the growth of each: know it first
    (an empty ``old`` matches between every two characters)."""
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        matches = len(text) + 1 if old == "" else text.count(old)
        if len(text) + matches * max(0, len(new) - len(old)) > MAX_STRING:
            raise TemplateLimit(f"a value may be at most {MAX_STRING} characters or items")


def _join_fits(separator: Any, items: Any) -> None:
    if isinstance(items, str | list | tuple):
        size = len(items) * len(str(separator)) + sum(len(str(i)) for i in items)
        if size > MAX_STRING:
            raise TemplateLimit(f"a value may be at most {MAX_STRING} characters or items")


def bounded_range(*args: int) -> range:
    for value in args:
        _number(value)
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateLimit(f"range() may give at most {MAX_RANGE} numbers")
    return numbers


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)  # keeps Jinja's pass_context / pass_environment marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _arguments([*args, *kwargs.values()])
        passed = Context | EvalContext | ImmutableSandboxedEnvironment
        values = [a for a in args if not isinstance(a, passed)]
        if name == "replace" and len(values) >= 3:
            _replace_fits(*values[:3])
        if name == "join" and values:
            _join_fits(values[1] if len(values) > 1 else kwargs.get("d", ""), values[0])
        return _sized(func(*args, **kwargs))

    return bounded


def _iterate(items: Any) -> Iterator[Any]:
    left = _ITERATIONS_LEFT.get()
    for item in items:
        left[0] -= 1
        if left[0] < 0:
            raise TemplateLimit(f"loops may turn at most {MAX_ITERATIONS} times in one message")
        yield item


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with the limits above; see ``compile_bounded`` and ``render_bounded``."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals = {
            "range": bounded_range,
            "dict": dict,
            "cycler": Cycler,
            "joiner": Joiner,
        }
        self.filters = {name: _bounded_filter(name, DEFAULT_FILTERS[name]) for name in FILTERS}
        self.filters["_counted"] = _iterate

    def call_binop(self, context: Context, op: str, left: Any, right: Any) -> Any:
        if op == "%" and isinstance(left, str):
            raise TemplateLimit("string formatting with % is not available in templates")
        if op == "*" and (_repeats_too_long(left, right) or _repeats_too_long(right, left)):
            raise TemplateLimit(f"a value may be at most {MAX_STRING} characters or items")
        if (
            op == "*"
            and (_big_int(left) or _big_int(right))
            or op == "**"
            and _big_power(left, right)
        ):
            raise TemplateLimit("numbers in templates stay below 2**64")
        return super().call_binop(context, op, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if not _may_call(obj):
            name = getattr(obj, "__name__", type(obj).__name__)
            raise TemplateLimit(f"templates may not call {name}()")
        _arguments([*args, *kwargs.values()])
        if getattr(obj, "__name__", "") == "replace" and len(args) >= 2:
            _replace_fits(getattr(obj, "__self__", None), args[0], args[1])
        return _sized(super().call(context, obj, *args, **kwargs))


def _big_int(value: Any) -> bool:
    return isinstance(value, int) and value.bit_length() > 64


def _big_power(base: Any, exponent: Any) -> bool:
    if not (isinstance(base, int) and isinstance(exponent, int)):
        return False
    return exponent > 64 or max(abs(base), 1).bit_length() * max(exponent, 0) > 64


def _repeats_too_long(sequence: Any, times: Any) -> bool:
    if not (isinstance(sequence, str | list | tuple) and isinstance(times, int)):
        return False
    return len(sequence) * max(times, 0) > MAX_STRING


def _may_call(obj: Any) -> bool:
    if obj in (bounded_range, dict, Cycler, Joiner) or isinstance(obj, Joiner):
        return True
    owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    if isinstance(owner, str):
        return name in STR_METHODS
    if isinstance(owner, Mapping):
        return name in DICT_METHODS
    if isinstance(owner, LoopContext):
        return name in ("cycle", "changed")
    if isinstance(owner, Cycler):
        return name in ("next", "reset")
    return False


def _depth_and_check(template: nodes.Template) -> None:
    stack: list[tuple[nodes.Node, int]] = [(template, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            raise TemplateLimit(f"tags and expressions may nest at most {MAX_NESTING} deep")
        for kind, tag in REFUSED_TAGS.items():
            if isinstance(node, kind):
                raise TemplateLimit(f"the {tag} tag is not available in message templates")
        if isinstance(node, nodes.For):
            if node.recursive:
                raise TemplateLimit("recursive loops are not available in message templates")
            node.iter = nodes.Filter(
                node.iter, "_counted", [], [], None, None, lineno=node.iter.lineno
            )
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())


@lru_cache(maxsize=512)
def compile_bounded(env: BoundedEnvironment, source: str) -> Any:
    """The template compiled, once its tags and nesting pass the limits; every loop in it
    counts its turns against the rendering's allowance. Compiled once per environment and
    text (a practice has a few dozen templates): parsing and compiling to Python was most of
    rendering a message. A template refused by the limits raises each time (not cached)."""
    try:
        tree = env.parse(source)
    except RecursionError as exc:
        raise TemplateLimit(f"tags and expressions may nest at most {MAX_NESTING} deep") from exc
    _depth_and_check(tree)
    return env.from_string(tree)


def render_bounded(env: BoundedEnvironment, source: str, values: Mapping[str, object]) -> str:
    """Render, stopping as soon as the text passes MAX_RENDERED characters."""
    template = compile_bounded(env, source)
    token = _ITERATIONS_LEFT.set([MAX_ITERATIONS])
    try:
        parts: list[str] = []
        size = 0
        for part in template.generate(values):
            size += len(part)
            if size > MAX_RENDERED:
                raise TemplateLimit(f"a rendered message may be at most {MAX_RENDERED} characters")
            parts.append(part)
        return "".join(parts)
    finally:
        _ITERATIONS_LEFT.reset(token)
