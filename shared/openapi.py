"""An OpenAPI 3.1 document built from a service's table of operations, with request schemas
taken from the pydantic models that validate them (so the document cannot drift from what the
API accepts) and success bodies from the types the handlers' serializers are declared to return.
Each service lists its operations; this module knows the format.

Response types are ``typing_extensions.TypedDict`` classes (see :class:`Page`): a serializer
annotated to return one is checked by mypy key by key and value by value, costs nothing at run
time (a hot list endpoint builds plain dicts, not model instances), and pydantic turns the same
class into the JSON Schema published here. The schemathesis run in the suite then checks every
real answer against that schema."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema
from typing_extensions import TypedDict

T = TypeVar("T")

# (method, path, summary, request body model, query model, success status)
Operation = tuple[str, str, str, type[BaseModel] | None, type[BaseModel] | None, int]

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "required": ["type", "title", "status"],
}
PROBLEM_RESPONSE = {
    "description": "An error",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


class Page(TypedDict, Generic[T]):
    """One page of a list: pass ``next_cursor`` back as ``cursor`` for the next page; null
    (and ``has_more`` false) on the last page."""

    items: list[T]
    next_cursor: str | None
    has_more: bool


class Document(TypedDict):
    """An OpenAPI 3.1 document."""

    openapi: str
    info: dict[str, Any]
    servers: list[dict[str, Any]]
    security: list[dict[str, Any]]
    paths: dict[str, Any]
    components: dict[str, Any]


# (method, path) -> the type the operation's JSON success body has
Responses = Mapping[tuple[str, str], Any]


class UndocumentedResponse(LookupError):
    """An operation answers JSON but names no response type."""


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def operation_id(method: str, path: str) -> str:
    name = f"{method}_{path.removeprefix('/api/v1/')}"
    for old, new in (("/", "_"), ("{", ""), ("}", ""), ("-", "_"), (".", "_")):
        name = name.replace(old, new)
    return name


def success(
    status: int,
    media: Iterable[str] = ("application/json",),
    schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A success answer: JSON of ``schema`` unless the operation says which media it can answer
    with (an invoice as HTML or PDF); nothing for 204."""
    if status == 204:
        return {"description": "Done; no content"}
    content = {
        kind: {"schema": schema or {"type": "object"}} if kind == "application/json" else {}
        for kind in media
    }
    return {"description": "Success", "content": content}


def response_schemas(
    responses: Responses,
) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, Any]]:
    """Each operation's success schema (a $ref) and the definitions they share."""
    keys = sorted(responses)
    if not keys:
        return {}, {}
    refs, definitions = TypeAdapter.json_schemas(
        [(key, "serialization", TypeAdapter(responses[key])) for key in keys],
        ref_template="#/components/schemas/{model}",
    )
    return {key: refs[(key, "serialization")] for key in keys}, definitions.get("$defs", {})


def build_document(
    *,
    title: str,
    description: str,
    operations: Iterable[Operation],
    public: Iterable[str] = (),
    extra_paths: Mapping[str, dict[str, Any]] | None = None,
    media: Mapping[str, Iterable[str]] | None = None,
    responses: Responses,
) -> Document:
    """``media``: for paths that answer other than a JSON object, the media types they may
    answer with. ``responses``: for every operation that answers JSON (not 204), the type of
    its success body; one missing raises :class:`UndocumentedResponse`, so the document cannot
    silently fall back to "some object"."""
    operations = list(operations)
    media = media or {}
    public = set(public)
    for method, path, *_rest, status in operations:
        answers_json = "application/json" in media.get(path, ("application/json",))
        if status != 204 and answers_json and (method, path) not in responses:
            raise UndocumentedResponse(f"{method.upper()} {path} names no response type")
    known = {(op[0], op[1]) for op in operations}
    if stray := set(responses) - known:
        raise UndocumentedResponse(f"response types for operations not listed: {sorted(stray)}")
    success_schemas, response_definitions = response_schemas(responses)
    bodies = {op[3] for op in operations if op[3] is not None}
    mapping, definitions = models_json_schema(
        [(m, "validation") for m in sorted(bodies, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    for name, schema in response_definitions.items():
        if name in schemas and schemas[name] != schema:
            raise ValueError(f"two different schemas are both called {name}")
        schemas[name] = schema
    schemas["Problem"] = PROBLEM
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, body, query, status in operations:
        operation: dict[str, Any] = {
            "summary": summary,
            "operationId": operation_id(method, path),
            "responses": {
                str(status): success(
                    status,
                    media.get(path, ("application/json",)),
                    success_schemas.get((method, path)),
                ),
                "default": PROBLEM_RESPONSE,
            },
        }
        parameters = [
            {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            for part in path.split("/")
            if part.startswith("{")
        ]
        if query is not None:
            parameters += query_parameters(query)
        if parameters:
            operation["parameters"] = parameters
        if body is not None:
            operation["requestBody"] = {
                "description": "Only the fields to change; the others keep their values."
                if method == "patch"
                else "",
                "required": True,
                "content": {"application/json": {"schema": mapping[(body, "validation")]}},
            }
        if path in public:
            operation["security"] = []
        paths.setdefault(path, {})[method] = operation
    paths.update(extra_paths or {})
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0", "description": description},
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
