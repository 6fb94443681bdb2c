"""The OpenAPI document lists exactly the scheduler's routes, with request schemas from the
models that validate them, and is served without signing in."""

from __future__ import annotations

from pathlib import Path

from services.bootstrap import bootstrap
from shared.web import create_service_app
from tests.integration.test_service_openapi import assert_documents_exactly


def test_every_scheduler_route_is_documented(tmp_path: Path) -> None:
    env = {"SCHEDULER_DATABASE_URL": f"sqlite:///{tmp_path}/scheduler.db"}
    rt = bootstrap("scheduler", env=env)
    app = create_service_app(rt)
    try:
        response = app.test_client().get("/api/v1/openapi.json")
        assert response.status_code == 200
        document = response.json
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
    finally:
        rt.db.dispose()
