"""An OpenAPI 3.1 document built from a service's table of operations, with request schemas
taken from the pydantic models that validate them (so the document cannot drift from what the
API accepts). Each service lists its operations; this module knows the format."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

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


def success(status: int, media: Iterable[str] = ("application/json",)) -> dict[str, Any]:
    """A success answer: a JSON object unless the operation says which media it can answer
    with (an invoice as HTML or PDF); nothing for 204."""
    if status == 204:
        return {"description": "Done; no content"}
    content = {
        kind: {"schema": {"type": "object"}} if kind == "application/json" else {} for kind in media
    }
    return {"description": "Success", "content": content}


def build_document(
    *,
    title: str,
    description: str,
    operations: Iterable[Operation],
    public: Iterable[str] = (),
    extra_paths: Mapping[str, dict[str, Any]] | None = None,
    media: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, Any]:
    """``media``: for paths that answer other than a JSON object, the media types they may
    answer with."""
    operations = list(operations)
    media = media or {}
    public = set(public)
    bodies = {op[3] for op in operations if op[3] is not None}
    mapping, definitions = models_json_schema(
        [(m, "validation") for m in sorted(bodies, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    schemas["Problem"] = PROBLEM
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, body, query, status in operations:
        operation: dict[str, Any] = {
            "summary": summary,
            "operationId": operation_id(method, path),
            "responses": {
                str(status): success(status, media.get(path, ("application/json",))),
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
