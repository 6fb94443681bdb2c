"""The client's locale at the edge: parsed with Babel, normalised to ll_CC, refused clearly."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.scheduler.validation import ClientFields, normalise_locale


@pytest.mark.parametrize(
    ("given", "kept"),
    [("en_US", "en_US"), ("es-US", "es_US"), ("pl_pl", "pl_PL"), (" EN-us ", "en_US")],
)
def test_locales_are_normalised(given: str, kept: str) -> None:
    assert normalise_locale(given) == kept


@pytest.mark.parametrize("given", ["", "en", "xx_YY", "klingon", "en_US!", "12"])
def test_a_locale_without_a_known_language_and_country_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match="such as en_US, es_US or pl_PL"):
        normalise_locale(given)


def test_a_client_defaults_to_en_us_and_the_error_names_the_field() -> None:
    base = {"first_name": "A", "last_name": "B", "time_zone": "America/New_York"}
    assert ClientFields.model_validate(base).columns()["locale"] == "en_US"
    assert ClientFields.model_validate(base | {"locale": "es-us"}).locale == "es_US"
    with pytest.raises(ValidationError) as caught:
        ClientFields.model_validate(base | {"locale": "nope"})
    [error] = caught.value.errors()
    assert error["loc"] == ("locale",)
    assert "such as en_US" in error["msg"]
