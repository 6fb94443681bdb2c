"""The notifier's and billing's OpenAPI documents list exactly their routes, with request
schemas from the models that validate them, and are served without signing in at paths the
gateway sends to the service that owns them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from services.bootstrap import bootstrap
from services.gateway import owner_of
from shared.web import create_service_app

DOCUMENTS = {
    "notifier": "/api/v1/notifier/openapi.json",
    "billing": "/api/v1/billing/openapi.json",
}


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def assert_documents_exactly(app: Flask, document: dict[str, Any], *, also: str = "") -> None:
    """The document's operations are the app's routes under /api/v1/ and /webhooks/ (and the
    endpoints named ``also``), and every $ref it holds resolves."""
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    routes = {
        (method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/api/v1/", "/webhooks/"))
        or bool(also and rule.endpoint.startswith(also))
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    assert len(routes) > 10
    assert routes - documented == set(), "routes missing from the document"
    assert documented - routes == set(), "documented paths that do not exist"
    schemas = document["components"]["schemas"]
    for ref in refs(document):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas
    json.dumps(document)  # plain JSON all the way down


@pytest.mark.parametrize("service", list(DOCUMENTS))
def test_every_route_is_documented(service: str, tmp_path: Path) -> None:
    env = {f"{service.upper()}_DATABASE_URL": f"sqlite:///{tmp_path}/{service}.db"}
    rt = bootstrap(service, env=env)
    app = create_service_app(rt)
    try:
        assert owner_of(DOCUMENTS[service]) == service
        response = app.test_client().get(DOCUMENTS[service])
        assert response.status_code == 200
        document = response.json
        assert document["openapi"].startswith("3.1")
        assert_documents_exactly(app, document)
        assert all(owner_of(path) == service for path in document["paths"])
        assert document["paths"][DOCUMENTS[service]]["get"]["security"] == []
    finally:
        rt.db.dispose()


def test_request_schemas_come_from_the_validating_models(tmp_path: Path) -> None:
    env = {"BILLING_DATABASE_URL": f"sqlite:///{tmp_path}/billing.db"}
    rt = bootstrap("billing", env=env)
    try:
        document = create_service_app(rt).test_client().get(DOCUMENTS["billing"]).json
        payment = document["paths"]["/api/v1/invoices/{invoice_id}/payments"]["post"]
        ref = payment["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        fields = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert set(fields["required"]) == {"amount_minor", "method"}
        assert fields["properties"]["amount_minor"]["exclusiveMinimum"] == 0
        superbill = document["paths"]["/api/v1/superbills"]["get"]["parameters"]
        assert {p["name"] for p in superbill if p["required"]} == {"client_id", "from", "to"}
    finally:
        rt.db.dispose()


@pytest.mark.parametrize("service", list(DOCUMENTS))
def test_every_json_success_body_names_its_schema(service: str, tmp_path: Path) -> None:
    """No JSON success answer is documented as "some object": each is a $ref to a named
    schema that lists its properties."""
    env = {f"{service.upper()}_DATABASE_URL": f"sqlite:///{tmp_path}/{service}.db"}
    rt = bootstrap(service, env=env)
    try:
        document = create_service_app(rt).test_client().get(DOCUMENTS[service]).json
    finally:
        rt.db.dispose()
    schemas = document["components"]["schemas"]
    checked = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                json_body = answer.get("content", {}).get("application/json")
                if not status.startswith("2") or json_body is None:
                    continue
                ref = json_body["schema"].get("$ref", "")
                assert ref.startswith("#/components/schemas/"), f"{method} {path}: {json_body}"
                named = schemas[ref.rsplit("/", 1)[1]]
                assert named.get("type") == "object" and named.get("properties"), (method, path)
                checked.append((method, path))
    assert len(checked) > 10
