"""Schemathesis against each service's web, served over HTTP on loopback with its real
PostgreSQL database and an admin's real sign-in token: for requests generated from each
service's own OpenAPI document, valid ones and ones that break the schema alike, no answer is a
server error (5xx) and every answer has a documented status and content type and matches its
documented schema.

Not checked: that every schema-valid request is accepted. The schemas say what JSON Schema can
(types, lengths, ranges); a phone number, a time zone or an end before a start are judged by
the handlers and answered 422 by design.

Examples are derandomized (the same requests every run) and few per operation, so the three
services take about a minute together on two cores."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks
from schemathesis.core.failures import FailureGroup
from werkzeug.serving import make_server

from tests.integration.conftest import System

DOCUMENTS = {
    "scheduler": "/api/v1/openapi.json",
    "notifier": "/api/v1/notifier/openapi.json",
    "billing": "/api/v1/billing/openapi.json",
}
EXAMPLES = 12  # per operation, valid and schema-breaking mixed
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@contextmanager
def serving(system: System, service: str) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, system.apps[service], threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.mark.parametrize("service", list(DOCUMENTS))
def test_generated_requests_get_no_server_error_and_documented_answers(
    system: System, service: str
) -> None:
    token = system.token(admin=True)
    with serving(system, service) as base_url:
        schema = schemathesis.openapi.from_url(base_url + DOCUMENTS[service])
        failures: list[str] = []
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 10
        for operation in operations:
            failures += _exercise(operation, base_url, token)
    assert failures == []


def _exercise(operation: schemathesis.APIOperation, base_url: str, token: str) -> list[str]:
    found: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}

    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report the request as sent
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (AssertionError, FailureGroup) as failure:
            found.append(f"{operation.label}: {failure}\n{case.as_curl_command()}")

    run()
    return found
