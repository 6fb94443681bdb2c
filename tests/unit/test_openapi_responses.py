"""The OpenAPI generator publishes each operation's success body from the type its serializer
returns, and refuses a document in which a JSON operation names none."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from shared import openapi


class Thing(TypedDict):
    """A thing"""

    id: str
    size: int | None


class NewThing(BaseModel):
    name: str


OPERATIONS: list[openapi.Operation] = [
    ("get", "/api/v1/things", "Things", None, None, 200),
    ("post", "/api/v1/things", "Add a thing", NewThing, None, 201),
    ("delete", "/api/v1/things/{thing_id}", "Remove a thing", None, None, 204),
]


def test_success_bodies_reference_the_response_types() -> None:
    document = openapi.build_document(
        title="t",
        description="d",
        operations=OPERATIONS,
        responses={
            ("get", "/api/v1/things"): openapi.Page[Thing],
            ("post", "/api/v1/things"): Thing,
        },
    )
    things = document["paths"]["/api/v1/things"]
    listed = things["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    added = things["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert added == {"$ref": "#/components/schemas/Thing"}
    schemas = document["components"]["schemas"]
    page = schemas[listed["$ref"].rsplit("/", 1)[1]]
    assert page["required"] == ["items", "next_cursor", "has_more"]
    assert page["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Thing"}
    assert schemas["Thing"]["required"] == ["id", "size"]
    assert "NewThing" in schemas  # request models still there
    assert (
        "content"
        not in document["paths"]["/api/v1/things/{thing_id}"]["delete"]["responses"]["204"]
    )


def test_a_json_operation_without_a_response_type_is_refused() -> None:
    with pytest.raises(openapi.UndocumentedResponse, match="POST /api/v1/things"):
        openapi.build_document(
            title="t",
            description="d",
            operations=OPERATIONS,
            responses={("get", "/api/v1/things"): openapi.Page[Thing]},
        )


def test_a_response_type_for_an_unlisted_operation_is_refused() -> None:
    with pytest.raises(openapi.UndocumentedResponse, match="not listed"):
        openapi.build_document(
            title="t",
            description="d",
            operations=OPERATIONS[:1],
            responses={
                ("get", "/api/v1/things"): openapi.Page[Thing],
                ("put", "/api/v1/things"): Thing,
            },
        )
