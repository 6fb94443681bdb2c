"""The OpenAPI document lists exactly the scheduler's routes, with request schemas from the
models that validate them, and is served without signing in."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from services.bootstrap import bootstrap
from shared.web import create_service_app


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_every_scheduler_route_is_documented(tmp_path: Path) -> None:
    env = {"SCHEDULER_DATABASE_URL": f"sqlite:///{tmp_path}/scheduler.db"}
    rt = bootstrap("scheduler", env=env)
    app = create_service_app(rt)
    try:
        response = app.test_client().get("/api/v1/openapi.json")
        assert response.status_code == 200
        document = response.json
        assert document["openapi"].startswith("3.1")
        documented = {
            (method.upper(), path) for path, item in document["paths"].items() for method in item
        }
        routes = {
            (method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
            for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/api/v1/") or rule.endpoint.startswith("scheduler_feeds.")
            for method in rule.methods or ()
            if method not in {"HEAD", "OPTIONS"}
        }
        assert any(path.startswith("/api/v1/") for _, path in routes)
        assert routes - documented == set(), "routes missing from the document"
        assert documented - routes == set(), "documented paths that do not exist"

        schemas = document["components"]["schemas"]
        for ref in _refs(document):
            assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas
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
        json.dumps(document)  # plain JSON all the way down
    finally:
        rt.db.dispose()
