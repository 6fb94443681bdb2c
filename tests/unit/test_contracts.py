"""Event contracts against their golden samples (shared/contracts/samples/<type>.v<n>.json).

A sample is a whole envelope as a producer writes it; a consumer of any version of the code must
be able to read it. The data datetimes are written as pydantic writes them (``...Z``), so that
re-serialising a parsed sample gives back exactly the same data.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shared import contracts
from shared.envelope import Envelope, UndecodableEvent

SAMPLES = Path(contracts.__file__).parent / "samples"
SAMPLE_NAME = re.compile(r"^(?P<type>[a-z_.]+)\.v(?P<version>\d+)\.json$")
ENVELOPE_FIELDS = [
    "id",
    "type",
    "version",
    "occurred_at",
    "source",
    "correlation_id",
    "causation_id",
    "data",
]
REGISTERED = sorted(contracts.REGISTRY)


def sample_path(key: tuple[str, int]) -> Path:
    event_type, version = key
    return SAMPLES / f"{event_type}.v{version}.json"


def load_sample(key: tuple[str, int]) -> dict[str, Any]:
    return json.loads(sample_path(key).read_text(encoding="utf-8"))


def envelope_with(key: tuple[str, int], data: dict[str, Any]) -> Envelope:
    return Envelope.model_validate(load_sample(key) | {"data": data})


def key_id(key: tuple[str, int]) -> str:
    return f"{key[0]}.v{key[1]}"


# -- (a) one sample per registered contract ---------------------------------------------------


def test_every_registered_contract_has_a_sample() -> None:
    missing = [key_id(key) for key in REGISTERED if not sample_path(key).is_file()]
    assert missing == []


def test_every_sample_names_a_registered_contract() -> None:
    names = sorted(path.name for path in SAMPLES.glob("*.json"))
    assert names, f"no samples in {SAMPLES}"
    strays = []
    for name in names:
        match = SAMPLE_NAME.match(name)
        if match is None or (match["type"], int(match["version"])) not in contracts.REGISTRY:
            strays.append(name)
    assert strays == []


@pytest.mark.parametrize("key", REGISTERED, ids=key_id)
def test_sample_file_is_pretty_printed_with_trailing_newline(key: tuple[str, int]) -> None:
    text = sample_path(key).read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("key", REGISTERED, ids=key_id)
def test_sample_is_a_complete_envelope_naming_its_own_contract(key: tuple[str, int]) -> None:
    raw = load_sample(key)
    assert list(raw) == ENVELOPE_FIELDS
    assert (raw["type"], raw["version"]) == key
    assert raw["occurred_at"].endswith("+00:00")
    assert raw["source"] in {"scheduler", "notifier", "billing"}


@pytest.mark.parametrize("key", REGISTERED, ids=key_id)
def test_sample_data_fills_every_field_of_the_contract(key: tuple[str, int]) -> None:
    data = load_sample(key)["data"]
    model = contracts.REGISTRY[key]
    assert sorted(data) == sorted(model.model_fields)
    assert [name for name, value in data.items() if value is None] == []


# -- (b) parse and round trip -----------------------------------------------------------------


@pytest.mark.parametrize("key", REGISTERED, ids=key_id)
def test_sample_parses_into_its_contract_and_round_trips(key: tuple[str, int]) -> None:
    raw_text = sample_path(key).read_text(encoding="utf-8")
    envelope = Envelope.from_json(raw_text)

    contract = contracts.parse(envelope)

    assert type(contract) is contracts.REGISTRY[key]
    assert contract.payload() == json.loads(raw_text)["data"]
    assert json.loads(json.dumps(contract.payload())) == envelope.data


@pytest.mark.parametrize("key", REGISTERED, ids=key_id)
def test_envelope_survives_its_own_serialisation(key: tuple[str, int]) -> None:
    envelope = Envelope.from_json(sample_path(key).read_bytes())

    assert Envelope.model_validate_json(envelope.to_json()) == envelope


def test_envelope_fields_keep_their_values() -> None:
    raw = load_sample(("appointment.booked", 1))
    envelope = Envelope.from_json(json.dumps(raw))

    assert envelope.id == uuid.UUID(raw["id"])
    assert envelope.occurred_at == datetime(2026, 3, 2, 14, 7, 55, tzinfo=UTC)
    assert envelope.source == "scheduler"
    assert envelope.correlation_id == raw["correlation_id"]
    assert envelope.causation_id is None


def test_reminder_plan_sample_is_caused_by_the_booking_sample() -> None:
    booked = load_sample(("appointment.booked", 1))
    planned = load_sample(("reminder.planned", 1))

    assert planned["causation_id"] == booked["id"]
    assert planned["correlation_id"] == booked["correlation_id"]
    assert planned["data"]["appointment_id"] == booked["data"]["appointment_id"]


# -- (c) additive changes are fine, missing fields are not ------------------------------------


@pytest.mark.parametrize("key", REGISTERED, ids=key_id)
def test_unknown_data_fields_are_ignored(key: tuple[str, int]) -> None:
    data = load_sample(key)["data"]
    newer = data | {"telehealth_link": "https://video.example.com/r/8f2k", "priority": 2}

    contract = contracts.parse(envelope_with(key, newer))

    assert contract.payload() == data


def required_fields() -> list[tuple[tuple[str, int], str]]:
    return [
        (key, name)
        for key in REGISTERED
        for name, field in contracts.REGISTRY[key].model_fields.items()
        if field.is_required()
    ]


@pytest.mark.parametrize(
    ("key", "field"), required_fields(), ids=lambda v: key_id(v) if isinstance(v, tuple) else v
)
def test_missing_required_field_is_undecodable(key: tuple[str, int], field: str) -> None:
    data = load_sample(key)["data"]
    del data[field]

    with pytest.raises(UndecodableEvent, match=field):
        contracts.parse(envelope_with(key, data))


def test_missing_optional_field_takes_its_default() -> None:
    data = load_sample(("appointment.cancelled", 1))["data"]
    del data["reason"], data["late"], data["location"]

    cancelled = contracts.parse(envelope_with(("appointment.cancelled", 1), data))

    assert cancelled.payload() == data | {"reason": "", "late": False, "location": None}


def test_wrong_value_type_is_undecodable() -> None:
    data = load_sample(("appointment.booked", 1))["data"] | {"status": "rescheduled"}

    with pytest.raises(UndecodableEvent, match="status"):
        contracts.parse(envelope_with(("appointment.booked", 1), data))


Step = str | int


def instants(value: Any, path: tuple[Step, ...] = ()) -> list[tuple[Step, ...]]:
    """Where a sample's data holds a UTC instant (written like 2026-03-10T18:00:00Z)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in instants(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in instants(v, (*path, i))]
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value):
        return [path]
    return []


NAIVE_CASES = [
    pytest.param(key, path, id=f"{key_id(key)}-{'.'.join(map(str, path))}")
    for key in REGISTERED
    if sample_path(key).is_file()  # a missing sample fails the test above, not collection
    for path in instants(load_sample(key)["data"])
]


@pytest.mark.parametrize(("key", "path"), NAIVE_CASES)
def test_instant_without_time_zone_in_data_is_undecodable(
    key: tuple[str, int], path: tuple[Step, ...]
) -> None:
    """A naive time in an event is ambiguous (15:00 where?) and must not get in."""
    data = load_sample(key)["data"]
    parent: Any = data
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = parent[path[-1]].removesuffix("Z")  # 2026-03-10T18:00:00

    with pytest.raises(UndecodableEvent):
        contracts.parse(envelope_with(key, data))


# -- (d) unknown contracts ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "version"),
    [("appointment.booked", 2), ("appointment.teleported", 1), ("invoice.issued", 0)],
)
def test_unknown_type_or_version_is_undecodable(event_type: str, version: int) -> None:
    raw = load_sample(("appointment.booked", 1)) | {"type": event_type, "version": version}
    envelope = Envelope.from_json(json.dumps(raw))

    with pytest.raises(UndecodableEvent, match=f"no contract for {event_type} v{version}"):
        contracts.parse(envelope)


# -- (e) malformed envelopes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json at all",
        b"\xff\xfe\x00garbage",
        b"[]",
        b'{"type": "appointment.booked"}',
    ],
    ids=["empty", "text", "binary", "json-array", "missing-fields"],
)
def test_malformed_bytes_are_undecodable(raw: bytes) -> None:
    with pytest.raises(UndecodableEvent):
        Envelope.from_json(raw)


def test_envelope_with_unknown_top_level_field_is_undecodable() -> None:
    raw = load_sample(("client.registered", 1)) | {"tenant": "harborview"}

    with pytest.raises(UndecodableEvent, match="tenant"):
        Envelope.from_json(json.dumps(raw))


@pytest.mark.parametrize(
    "occurred_at", ["2026-03-02T14:05:12", "2026-03-02 14:05:12", "2026-03-02", "yesterday"]
)
def test_occurred_at_without_time_zone_is_undecodable(occurred_at: object) -> None:
    raw = load_sample(("client.registered", 1)) | {"occurred_at": occurred_at}

    with pytest.raises(UndecodableEvent, match="occurred_at"):
        Envelope.from_json(json.dumps(raw))


def test_naive_occurred_at_is_refused_in_code_too() -> None:
    raw = load_sample(("client.registered", 1)) | {"occurred_at": datetime(2026, 3, 2, 14, 5)}

    with pytest.raises(ValidationError, match="occurred_at"):
        Envelope.model_validate(raw)


@pytest.mark.parametrize(
    "occurred_at",
    ["2026-03-02T09:05:12-05:00", "2026-03-02T15:05:12+01:00", "2026-03-02T14:05:12Z"],
)
def test_occurred_at_with_an_offset_is_stored_as_utc(occurred_at: str) -> None:
    raw = load_sample(("client.registered", 1)) | {"occurred_at": occurred_at}

    envelope = Envelope.from_json(json.dumps(raw))

    assert envelope.occurred_at == datetime(2026, 3, 2, 14, 5, 12, tzinfo=UTC)
    assert envelope.occurred_at.utcoffset() == timedelta(0)
