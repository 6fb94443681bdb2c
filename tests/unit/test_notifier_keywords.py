"""What an SMS reply means (services/notifier/keywords.py)."""

from __future__ import annotations

import pytest

from services.notifier.keywords import intent_of


@pytest.mark.parametrize(
    ("body", "intent"),
    [
        ("C", "confirm"),
        ("c", "confirm"),
        (" Y ", "confirm"),
        ("yes!", "confirm"),
        ("Confirm.", "confirm"),
        ("R", "call_back"),
        ("r", "call_back"),
        ("STOP", "opt_out"),
        ("stop", "opt_out"),
        ("StopAll", "opt_out"),
        ("UNSUBSCRIBE", "opt_out"),
        ("CANCEL", "opt_out"),  # a carrier opt-out, never a cancellation of the appointment
        ("end", "opt_out"),
        ("Quit", "opt_out"),
        ("START", "opt_in"),
        ("unstop", "opt_in"),
        ("Can we move to Thursday?", "other"),
        ("C see you then", "other"),
        ("please stop texting me at night", "other"),
        ("", "other"),
        ("Rr", "other"),
    ],
)
def test_replies_are_read_as_one_keyword(body: str, intent: str) -> None:
    assert intent_of(body) == intent
