"""The OpenAPI document lists exactly the scheduler's routes, with request schemas from the
models that validate them and every JSON success body from a named type, and is served without
signing in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from services.bootstrap import bootstrap
from shared.web import create_service_app
from tests.integration.test_service_openapi import assert_documents_exactly


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Flask, dict[str, Any]]]:
    """The scheduler's app and the document it serves."""
    env = {"SCHEDULER_DATABASE_URL": f"sqlite:///{tmp_path}/scheduler.db"}
    rt = bootstrap("scheduler", env=env)
    try:
        app = create_service_app(rt)
        response = app.test_client().get("/api/v1/openapi.json")
        assert response.status_code == 200
        yield app, response.json
    finally:
        rt.db.dispose()


def test_every_scheduler_route_is_documented(served: tuple[Flask, dict[str, Any]]) -> None:
    app, document = served
    assert document["openapi"].startswith("3.1")
    assert_documents_exactly(app, document, also="scheduler_feeds.")
    schemas = document["components"]["schemas"]
    booking = document["paths"]["/api/v1/appointments"]["post"]["requestBody"]
    ref = booking["content"]["application/json"]["schema"]["$ref"]
    book = schemas[ref.rsplit("/", 1)[1]]
    assert set(book["required"]) == {
        "client_id",
        "practitioner_id",
        "service_type_id",
        "starts_at",
    }
    availability = document["paths"]["/api/v1/availability"]["get"]["parameters"]
    assert {p["name"] for p in availability} >= {"practitioner_id", "from", "to", "time_zone"}
    assert document["paths"]["/api/v1/auth/token"]["post"]["security"] == []


def test_every_json_success_body_is_a_named_type(served: tuple[Flask, dict[str, Any]]) -> None:
    _, document = served
    schemas = document["components"]["schemas"]
    bodies = {
        (method, path): content["application/json"]["schema"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for status, answer in operation["responses"].items()
        if status.startswith("2")
        for content in [answer.get("content", {})]
        if "application/json" in content
    }
    assert len(bodies) > 50
    for operation, schema in bodies.items():
        assert set(schema) == {"$ref"}, operation
        named = schemas[schema["$ref"].removeprefix("#/components/schemas/")]
        assert named["type"] == "object" and named["properties"], operation
        assert set(named["required"]) <= set(named["properties"]), operation
    appointment = bodies[("get", "/api/v1/appointments/{appointment_id}")]
    assert appointment == {"$ref": "#/components/schemas/Appointment"}
    assert {"id", "status", "starts_at", "sequence"} <= set(schemas["Appointment"]["required"])
    page = schemas[bodies[("get", "/api/v1/clients")]["$ref"].rsplit("/", 1)[1]]
    assert set(page["required"]) == {"items", "next_cursor", "has_more"}
    assert page["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Client"}
