"""Errors at the HTTP edge as RFC 9457 problem documents, and request-body validation."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from flask import Flask, Response, jsonify, request
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
M = TypeVar("M", bound=BaseModel)


class Problem(Exception):
    """An error the caller can act on; becomes an application/problem+json response."""

    def __init__(
        self, status: int, title: str, detail: str = "", *, type_: str = "about:blank", **extra: Any
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.extra = extra

    def response(self) -> Response:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        body.update(self.extra)
        response = jsonify(body)
        response.status_code = self.status
        response.mimetype = PROBLEM_JSON
        return response


def not_found(what: str) -> Problem:
    return Problem(404, "Not found", f"No {what} with that id.")


def conflict(detail: str, **extra: Any) -> Problem:
    return Problem(409, "Conflict", detail, **extra)


def _field_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in error["loc"]) or "body", "message": error["msg"]}
        for error in exc.errors(include_url=False, include_input=False)
    ]


# Deeper than any document of ours: a request nested beyond it is refused before it is walked.
MAX_JSON_DEPTH = 32
RETRY_AFTER_SECONDS = 5


def _nul_free(value: str) -> bool:
    return "\x00" not in value


def refuse_nul_bytes() -> None:
    """before_request: NUL cannot be stored (PostgreSQL refuses it in text) and is never part
    of what a person types, so a path, query or form field holding one is refused at the edge."""
    fields = [("path", request.path)]
    fields += [(f"query {k}", f"{k}{v}") for k, v in request.args.items(multi=True)]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        fields += [(f"form field {k}", f"{k}{v}") for k, v in request.form.items(multi=True)]
    for where, value in fields:
        if not _nul_free(value):
            raise Problem(400, "Malformed request", f"The {where} contains a NUL character.")


def json_body() -> Any:
    """The request's JSON, refusing what no client of ours sends: nesting deeper than
    MAX_JSON_DEPTH (which would otherwise exhaust the parser's recursion) and NUL characters."""
    try:
        payload = request.get_json(silent=True)
    except RecursionError:
        payload = None
        _too_deep()
    _check_json(payload, 0, "body")
    return payload


def _too_deep() -> None:
    raise Problem(400, "Malformed request", f"The JSON is nested more than {MAX_JSON_DEPTH} deep.")


def _check_json(value: Any, depth: int, where: str) -> None:
    if depth > MAX_JSON_DEPTH:
        _too_deep()
    if isinstance(value, str):
        if not _nul_free(value):
            raise Problem(422, "Invalid request", f"{where}: must not contain a NUL character")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json(key, depth + 1, where)
            _check_json(item, depth + 1, f"{where}.{key}" if where != "body" else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, depth + 1, f"{where}.{index}")


def parse_body(model: type[M]) -> M:
    """The JSON body validated against ``model``; 400/415/422 problems otherwise."""
    if not request.is_json:
        raise Problem(415, "Unsupported media type", "Send the request body as application/json.")
    payload = json_body()
    if not isinstance(payload, dict):
        raise Problem(400, "Malformed request", "The request body must be a JSON object.")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = _field_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise Problem(422, "Invalid request", detail, errors=errors) from exc


def parse_query(model: type[M]) -> M:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        errors = _field_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise Problem(400, "Invalid query", detail, errors=errors) from exc


def register_problem_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(exc: Problem) -> Response:
        return exc.response()

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        problem = Problem(exc.code or 500, exc.name, exc.description or "")
        response = problem.response()
        allowed = getattr(exc, "valid_methods", None)
        if exc.code == 405 and allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(exc: Exception) -> Response:
        # The database went away (restart, failover, network) or is saturated: the transaction
        # rolled back, so the honest answer is "nothing changed, try again shortly".
        log.warning("database unavailable", extra={"error": type(exc).__name__})
        response = Problem(
            503,
            "Service unavailable",
            "The database could not be reached; nothing was changed. Try again in a few seconds.",
        ).response()
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.path})
        return Problem(
            500, "Internal error", "Something went wrong on our side; the request changed nothing."
        ).response()
