"""SMS text as carriers count it: GSM-7 when every character is in the GSM 03.38 alphabet (160
a message, 153 a segment once split), UCS-2 otherwise (70, 67). A letter outside GSM-7 that has
a plain counterpart is written plainly, as Twilio's Smart Encoding would, so that one accent in
a date does not turn a one-segment message into three."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec

CODEC = "gsm03.38"
MAX_SEGMENTS = 3
# Letters and marks NFKD cannot take apart, and typography a phone keyboard never makes.
_PLAIN = str.maketrans(
    {
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u202f": " ",
    }
)


@dataclass(frozen=True)
class Count:
    encoding: str  # "GSM-7" or "UCS-2"
    characters: int  # septets (GSM-7: an extension character is two) or UTF-16 code units
    segments: int


def _fits(text: str) -> bool:
    try:
        text.encode(CODEC)
    except UnicodeEncodeError:
        return False
    return True


def plain(text: str) -> str:
    """The text with each character GSM-7 lacks replaced by its plain letter, where it has one
    (ś → s, á → a, ł → l); characters with none (emoji, other scripts) stay as they are."""
    out = []
    for char in text.translate(_PLAIN):
        if _fits(char):
            out.append(char)
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out.append(base if base and _fits(base) else char)
    return "".join(out)


def count(text: str) -> Count:
    try:
        septets = len(text.encode(CODEC))
    except UnicodeEncodeError:
        units = len(text.encode("utf-16-le")) // 2
        return Count("UCS-2", units, 1 if units <= 70 else math.ceil(units / 67))
    return Count("GSM-7", septets, 1 if septets <= 160 else math.ceil(septets / 153))
