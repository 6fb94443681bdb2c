"""What an SMS reply means. Carriers and Twilio act on the opt-out keywords themselves; we
record them so that no reminder is even attempted to a number that said STOP. PAUSE and
RESUME are ours: they pause and resume check-ins only (START resumes them too)."""

from __future__ import annotations

import re
from typing import Literal

Intent = Literal["confirm", "call_back", "opt_out", "opt_in", "pause", "resume", "other"]

CONFIRM = {"C", "Y", "YES", "CONFIRM", "CONFIRMED"}
CALL_BACK = {"R"}
OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
OPT_IN = {"START", "UNSTOP"}
PAUSE = {"PAUSE"}
RESUME = {"RESUME"}


def intent_of(body: str) -> Intent:
    """The whole reply as one keyword (case, spaces and trailing punctuation aside)."""
    word = re.sub(r"[\s.!]+$", "", body.strip()).upper()
    if word in OPT_OUT:
        return "opt_out"
    if word in OPT_IN:
        return "opt_in"
    if word in PAUSE:
        return "pause"
    if word in RESUME:
        return "resume"
    if word in CONFIRM:
        return "confirm"
    if word in CALL_BACK:
        return "call_back"
    return "other"
