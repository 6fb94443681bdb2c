"""The Flask application every service starts from: errors, auth, correlation ids, request
metrics, and the /healthz, /readyz and /metrics endpoints."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from sqlalchemy import text

from shared.auth import authenticate_request, public
from shared.bus.connection import broker_reachable
from shared.http import refuse_nul_bytes, register_problem_handlers
from shared.logging import correlation
from shared.metrics import HTTP_REQUESTS, HTTP_SECONDS, OUTBOX_BACKLOG, render_latest
from shared.service import Runtime

CORRELATION_HEADER = "X-Correlation-ID"
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
log = logging.getLogger(__name__)


def runtime() -> Runtime:
    return current_app.extensions["rapport"]


def create_service_app(rt: Runtime) -> Flask:
    app = Flask(rt.name)
    app.config.update(
        SECRET_KEY=rt.settings.secret_key, JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=1024 * 1024
    )
    app.extensions["rapport"] = rt
    register_problem_handlers(app)
    OUTBOX_BACKLOG.add(rt.name, lambda: _backlog(rt), rt.clock.now)

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        incoming = request.headers.get(CORRELATION_HEADER) or request.headers.get("X-Request-ID")
        g.correlation_token = correlation.set(_safe_id(incoming) or str(uuid.uuid4()))
        refuse_nul_bytes()
        authenticate_request(
            rt.settings.secret_key, app.view_functions.get(request.endpoint or ""), rt.clock.now()
        )

    @app.after_request
    def _finish(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        HTTP_REQUESTS.labels(rt.name, request.method, route, str(response.status_code)).inc()
        HTTP_SECONDS.labels(rt.name, request.method, route).observe(elapsed)
        response.headers[CORRELATION_HEADER] = correlation.get() or ""
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="rapport"'
        # The route pattern, never the path: paths can hold feed tokens.
        log.log(
            logging.DEBUG if route in QUIET_ROUTES else logging.INFO,
            "request served",
            extra={
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
            },
        )
        return response

    @app.teardown_request
    def _reset(_exc: BaseException | None) -> None:
        token = g.pop("correlation_token", None)
        if token is not None:
            correlation.reset(token)

    app.add_url_rule("/healthz", "healthz", _healthz)
    app.add_url_rule("/readyz", "readyz", _readyz)
    app.add_url_rule("/metrics", "metrics", _metrics)
    for view in (_healthz, _readyz, _metrics):
        public(view)
    for blueprint in rt.service.blueprints():
        app.register_blueprint(blueprint)
    return app


def _safe_id(value: str | None) -> str | None:
    if value and len(value) <= 100 and all(c.isalnum() or c in "-_." for c in value):
        return value
    return None


def _backlog(rt: Runtime) -> tuple[int, Any]:
    with rt.db.sessions() as session:
        return rt.service.tables.backlog(session)


def _healthz() -> Response:
    # "now" is the application clock this process reads: replicas that disagree show here.
    rt = runtime()
    return jsonify(status="ok", service=rt.name, now=rt.clock.now().isoformat())


def _readyz() -> tuple[Response, int]:
    rt = runtime()
    checks = {"database": _database_ok(rt), "broker": broker_reachable(rt.settings)}
    ready = all(checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


def _database_ok(rt: Runtime) -> bool:
    try:
        with rt.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def _metrics() -> Response:
    body, content_type = render_latest()
    return Response(body, content_type=content_type)
