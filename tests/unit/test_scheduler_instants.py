"""Dates and instants at the scheduler's edge stay within years a zone conversion can handle:
one at the very edge of Python's calendar is a validation error (422), not an overflow (500)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.scheduler.api.appointments import AppointmentQuery
from services.scheduler.api.availability import AvailabilityQuery

EDGES = {
    "year-one-east-of-utc": "0001-01-01T00:00:04+03:00",
    "year-9999-west-of-utc": "9999-12-31T23:59:00-05:00",
    "before-1900": "1899-12-31T23:59:00Z",
}


@pytest.mark.parametrize("instant", EDGES.values(), ids=list(EDGES))
def test_an_instant_out_of_range_is_refused(instant: str) -> None:
    with pytest.raises(ValidationError, match="between 1900 and 2199"):
        AppointmentQuery.model_validate({"from": instant})


def test_ordinary_instants_and_dates_pass() -> None:
    query = AppointmentQuery.model_validate({"from": "2027-01-04T09:00:00-05:00"})
    assert query.starts_from is not None and query.starts_from.isoformat().endswith("-05:00")
    fields = {"practitioner_id": "p", "service_type_id": "s", "to": "2027-01-08"}
    assert AvailabilityQuery.model_validate(fields | {"from": "2027-01-04"}).range_from.year == 2027
    with pytest.raises(ValidationError, match="between 1900 and 2199"):
        AvailabilityQuery.model_validate(fields | {"from": "0001-01-01"})
