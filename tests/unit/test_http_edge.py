"""The HTTP edge refuses what no client sends — NUL characters, JSON nested beyond reason —
with a problem document, and answers a lost database with 503 and Retry-After."""

from __future__ import annotations

import json

import pytest
from flask import Flask, jsonify
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from shared.http import MAX_JSON_DEPTH, parse_body, refuse_nul_bytes, register_problem_handlers


class Note(BaseModel):
    text: str
    tags: list[str] = []


@pytest.fixture
def client():
    app = Flask("edge")
    register_problem_handlers(app)
    app.before_request(refuse_nul_bytes)
    stored: list[Note] = []

    @app.post("/notes")
    def add_note():
        stored.append(parse_body(Note))
        return jsonify(count=len(stored)), 201

    @app.get("/notes")
    def list_notes():
        return jsonify(count=len(stored))

    @app.get("/lost")
    def lost():
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    app.config["stored"] = stored
    return app.test_client()


def test_an_ordinary_note_is_accepted(client) -> None:
    assert client.post("/notes", json={"text": "café ☕", "tags": ["a"]}).status_code == 201


@pytest.mark.parametrize(
    "path", ["/notes?q=a%00b", "/notes?a%00=1", "/no%00tes"], ids=["value", "key", "path"]
)
def test_a_nul_in_the_address_is_a_400_problem(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert "NUL" in response.json["detail"]


def test_a_nul_in_a_form_field_is_a_400_problem(client) -> None:
    response = client.post("/notes", data={"text": "a\x00b"})
    assert response.status_code == 400
    assert "form field text" in response.json["detail"]


@pytest.mark.parametrize(
    "body", [{"text": "a\x00b"}, {"text": "ok", "tags": ["x\x00"]}], ids=["field", "list"]
)
def test_a_nul_in_json_is_a_422_naming_the_field_and_stores_nothing(client, body) -> None:
    response = client.post("/notes", json=body)
    assert response.status_code == 422
    assert "NUL" in response.json["detail"]
    assert client.get("/notes").json == {"count": 0}


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 5, 100_000], ids=["deep", "very-deep"])
def test_json_nested_too_deep_is_a_400_problem(client, depth: int) -> None:
    body = '{"text": "x", "tags": ' + "[" * depth + "]" * depth + "}"
    response = client.post("/notes", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json["detail"] == f"The JSON is nested more than {MAX_JSON_DEPTH} deep."


def test_json_as_deep_as_allowed_still_reaches_validation(client) -> None:
    nested = json.dumps({"text": "x", "tags": [[[]]]})
    response = client.post("/notes", data=nested, content_type="application/json")
    assert response.status_code == 422  # a list of lists is not a list of strings


def test_a_lost_database_is_a_503_with_retry_after(client) -> None:
    response = client.get("/lost")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.mimetype == "application/problem+json"
    assert "nothing was changed" in response.json["detail"]
