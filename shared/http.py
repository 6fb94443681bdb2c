"""Errors at the HTTP edge as RFC 9457 problem documents, and request-body validation."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from flask import Flask, Response, jsonify, request
from pydantic import BaseModel, ValidationError
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


def parse_body(model: type[M]) -> M:
    """The JSON body validated against ``model``; 400/415/422 problems otherwise."""
    if not request.is_json:
        raise Problem(415, "Unsupported media type", "Send the request body as application/json.")
    payload = request.get_json(silent=True)
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

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.path})
        return Problem(
            500, "Internal error", "Something went wrong on our side; the request changed nothing."
        ).response()
