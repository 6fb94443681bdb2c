"""Phone numbers as a client reads and dials them."""

from __future__ import annotations

import phonenumbers


def display_phone(e164: str) -> str:
    """ "+1 617-555-0100" for "+16175550100"; the number as given when it does not parse."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
