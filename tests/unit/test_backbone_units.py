"""Small pieces of the backbone and services, each on its own: broker topology, gateway routing,
settings, bearer tokens, JSON logs, invoice numbers, client validation, interval overlap."""

from __future__ import annotations

import io
import json
import logging
import secrets
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from kombu import Connection, Producer
from pydantic import ValidationError

from services.billing.numbering import format_number
from services.gateway import ROUTES, PathRouter, owner_of
from services.scheduler.domain import Interval, first_conflict, session_interval
from services.scheduler.validation import ClientFields, normalise_email, normalise_phone
from shared.auth import AUDIENCE, ISSUER, Principal, issue_token, verify_token
from shared.bus.topology import DELIVERY_LIMIT, Topology, all_queue_names
from shared.config import Settings, load_settings
from shared.http import Problem
from shared.logging import JsonFormatter, correlation

# -- broker topology -----------------------------------------------------------------------


def topology(queue_type: str = "quorum", **kwargs: Any) -> Topology:
    return Topology("notifier", ("appointment.booked",), queue_type=queue_type, **kwargs)


def test_queue_names_derive_from_the_service() -> None:
    t = topology()

    assert t.queue_name == "notifier"
    assert t.dead_queue_name == "notifier.dead"
    assert t.exchange.name == "rapport.events"
    assert t.exchange.type == "topic"
    assert t.exchange.durable


@pytest.mark.parametrize(
    ("attempt", "queue", "delay"),
    [
        (1, "notifier.retry.1000ms", 1.0),
        (2, "notifier.retry.10000ms", 10.0),
        (3, "notifier.retry.60000ms", 60.0),
        (4, "notifier.retry.600000ms", 600.0),
        (5, "notifier.retry.600000ms", 600.0),  # the list has run out: keep the last delay
        (12, "notifier.retry.600000ms", 600.0),
    ],
)
def test_retry_queue_per_attempt(attempt: int, queue: str, delay: float) -> None:
    t = topology()

    assert t.retry_queue_name(attempt) == queue
    assert t.retry_delay(attempt) == delay


def test_sub_second_retry_delays_get_millisecond_queue_names() -> None:
    t = topology(retry_delays=(0.2, 0.45))

    assert [t.retry_queue_name(n) for n in (1, 2, 3)] == [
        "notifier.retry.200ms",
        "notifier.retry.450ms",
        "notifier.retry.450ms",
    ]


def test_each_retry_queue_holds_messages_for_its_delay_then_returns_them_to_the_main_queue() -> (
    None
):
    retry = {q.name: q for q in topology(queue_type="classic").retry_queues()}

    assert list(retry) == [
        "notifier.retry.1000ms",
        "notifier.retry.10000ms",
        "notifier.retry.60000ms",
        "notifier.retry.600000ms",
    ]
    assert retry["notifier.retry.60000ms"].queue_arguments == {
        "x-queue-type": "classic",
        "x-message-ttl": 60000,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "notifier",
    }
    assert all(q.durable for q in retry.values())


def test_equal_retry_delays_share_one_queue() -> None:
    names = [q.name for q in topology(retry_delays=(5.0, 5.0, 30.0)).retry_queues()]

    assert names == ["notifier.retry.5000ms", "notifier.retry.30000ms"]


def test_quorum_main_queue_dead_letters_at_least_once_after_the_delivery_limit() -> None:
    main = topology("quorum").main_queue()

    assert main.name == "notifier"
    assert main.durable
    assert main.queue_arguments == {
        "x-queue-type": "quorum",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "notifier.dead",
    }


def test_classic_main_queue_has_no_quorum_only_arguments() -> None:
    main = topology("classic").main_queue()

    assert main.queue_arguments == {
        "x-queue-type": "classic",
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "notifier.dead",
    }


def test_quorum_retry_queues_also_dead_letter_at_least_once() -> None:
    for queue in topology("quorum").retry_queues():
        assert queue.queue_arguments is not None
        assert queue.queue_arguments["x-queue-type"] == "quorum"
        assert queue.queue_arguments["x-dead-letter-strategy"] == "at-least-once"
        assert "x-delivery-limit" not in queue.queue_arguments


@pytest.mark.parametrize("queue_type", ["quorum", "classic"])
def test_dead_letter_queue_is_a_plain_durable_queue(queue_type: str) -> None:
    dead = topology(queue_type).dead_queue()

    assert dead.name == "notifier.dead"
    assert dead.durable
    assert dead.queue_arguments == {"x-queue-type": queue_type}


def test_all_queue_names_lists_main_dead_and_retry_queues() -> None:
    assert list(all_queue_names(topology(retry_delays=(1.0, 10.0)))) == [
        "notifier",
        "notifier.dead",
        "notifier.retry.1000ms",
        "notifier.retry.10000ms",
    ]


def test_declared_bindings_route_only_the_bound_event_types_to_the_service_queue() -> None:
    service = f"unit-{uuid.uuid4().hex[:8]}"  # the memory transport is shared by the process
    t = Topology(service, ("appointment.*", "client.registered"), queue_type="classic")
    with Connection("memory://") as connection:
        channel = connection.channel()
        t.declare(channel)
        producer = Producer(channel)
        for key in ("appointment.booked", "invoice.issued", "client.registered"):
            producer.publish(key.encode(), exchange="rapport.events", routing_key=key)

        queue = t.main_queue()(channel)
        received = []
        while (message := queue.get(no_ack=True, accept=None)) is not None:
            received.append(message.body)

    assert received == [b"appointment.booked", b"client.registered"]


# -- gateway -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "owner"),
    [
        ("/api/v1/invoices/x", "billing"),
        ("/api/v1/invoices", "billing"),
        ("/api/v1/payments/9f1c/refund", "billing"),
        ("/api/v1/appointments", "scheduler"),
        ("/api/v1/clients/42", "scheduler"),
        ("/api/v1/reminders", "notifier"),
        ("/api/v1/reminder-policy", "notifier"),
        ("/webhooks/twilio/sms", "notifier"),
        ("/", "scheduler"),
        ("", "scheduler"),
        ("/feeds/abc", "scheduler"),
        ("/api/v1/invoicesX", "scheduler"),  # not a path-segment match
        ("/api/v1/invoices-archive", "scheduler"),
        ("/webhooks/twilio-status", "scheduler"),
    ],
)
def test_owner_of_path(path: str, owner: str) -> None:
    assert owner_of(path) == owner


def test_longest_prefix_wins_whatever_the_order_of_the_table() -> None:
    routes = [("/", "scheduler"), ("/api", "billing"), ("/api/v1/messages", "notifier")]

    assert owner_of("/api/v1/messages/17", routes) == "notifier"
    assert owner_of("/api/v1/messages/17", list(reversed(routes))) == "notifier"
    assert owner_of("/api/v1/other", routes) == "billing"


def test_every_service_owns_at_least_one_prefix() -> None:
    assert {service for _, service in ROUTES} == {"scheduler", "notifier", "billing"}


def fake_app(name: str) -> Callable[..., list[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Served-By", name)])
        return [f"{name}:{environ.get('PATH_INFO', '')}".encode()]

    return app


@pytest.mark.parametrize(
    ("path", "served_by"),
    [
        ("/api/v1/invoices/2026-000123", "billing"),
        ("/webhooks/twilio/sms", "notifier"),
        ("/api/v1/appointments", "scheduler"),
        ("/", "scheduler"),
    ],
)
def test_path_router_hands_the_request_to_the_owning_app(path: str, served_by: str) -> None:
    router = PathRouter({name: fake_app(name) for name in ("scheduler", "notifier", "billing")})
    started: list[tuple[str, list[tuple[str, str]]]] = []

    body = router({"PATH_INFO": path, "REQUEST_METHOD": "GET"}, lambda *a: started.append(a))

    assert body == [f"{served_by}:{path}".encode()]
    assert started == [("200 OK", [("Content-Type", "text/plain"), ("X-Served-By", served_by)])]


def test_path_router_without_path_info_goes_to_the_scheduler() -> None:
    router = PathRouter({name: fake_app(name) for name in ("scheduler", "notifier", "billing")})
    served: list[Any] = []

    router({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda *a: served.append(a))
    router({"REQUEST_METHOD": "GET"}, lambda *a: served.append(a))

    assert [dict(headers)["X-Served-By"] for _, headers in served] == ["scheduler", "scheduler"]


# -- settings ------------------------------------------------------------------------------


def test_settings_defaults() -> None:
    settings = load_settings("scheduler", {})

    assert settings == Settings(
        service="scheduler",
        database_url="sqlite:///var/scheduler.db",
        secret_key=settings.secret_key,  # this install's own key (var/secret_key)
    )
    assert settings.broker_url == "amqp://guest:guest@127.0.0.1:5672//"
    assert settings.queue_type == "quorum"
    assert settings.retry_delays == (1.0, 10.0, 60.0, 600.0)
    assert settings.max_attempts == 5
    assert not settings.is_memory_broker
    assert not settings.is_postgres


def test_settings_are_parsed_from_the_environment() -> None:
    env = {
        "BILLING_DATABASE_URL": "postgresql+psycopg://rapport@db.internal/billing",
        "SCHEDULER_DATABASE_URL": "postgresql+psycopg://rapport@db.internal/scheduler",
        "RAPPORT_BROKER_URL": "memory://",
        "RAPPORT_SECRET_KEY": "s3cret-" + "k" * 40,
        "RAPPORT_PUBLIC_URL": "https://harborview.example.com/",
        "RAPPORT_QUEUE_TYPE": "classic",
        "RAPPORT_RETRY_DELAYS": "0.5, 5,30,",
        "RAPPORT_MAX_ATTEMPTS": "4",
        "RAPPORT_PREFETCH": "8",
        "RAPPORT_CONSUME_BATCH": "4",
        "RAPPORT_CONFIRM_TIMEOUT": "2.5",
        "RAPPORT_HEARTBEAT": "15",
        "RAPPORT_RELAY_BATCH": "50",
        "RAPPORT_RELAY_INTERVAL": "0.05",
        "RAPPORT_RELAY_LISTEN": "0",
        "RAPPORT_RELAY_SAFETY_INTERVAL": "12",
        "RAPPORT_EXCHANGE": "rapport.test",
        "RAPPORT_LOG_LEVEL": "DEBUG",
        "TWILIO_ACCOUNT_SID": "AC0000",
        "SMTP_HOST": "mail.example.com",
        "PATH": "/usr/bin",
    }

    settings = load_settings("billing", env)

    assert settings.database_url == "postgresql+psycopg://rapport@db.internal/billing"
    assert settings.is_postgres
    assert settings.is_memory_broker
    assert settings.secret_key == "s3cret-" + "k" * 40
    assert settings.public_url == "https://harborview.example.com"
    assert settings.queue_type == "classic"
    assert settings.retry_delays == (0.5, 5.0, 30.0)
    assert (settings.max_attempts, settings.prefetch_count, settings.consume_batch) == (4, 8, 4)
    assert (settings.confirm_timeout, settings.heartbeat) == (2.5, 15)
    assert (settings.relay_batch_size, settings.relay_interval) == (50, 0.05)
    assert (settings.relay_listen, settings.relay_safety_interval) == (False, 12.0)
    assert (settings.exchange, settings.log_level) == ("rapport.test", "DEBUG")
    assert settings.extra == {"TWILIO_ACCOUNT_SID": "AC0000", "SMTP_HOST": "mail.example.com"}


def test_database_defaults_to_sqlite_in_the_var_dir(tmp_path: Path) -> None:
    # (Loading settings creates the install's signing key there too: a real directory.)
    settings = load_settings("notifier", {"RAPPORT_VAR_DIR": f"{tmp_path}/rapport"})

    assert settings.database_url == f"sqlite:///{tmp_path}/rapport/notifier.db"


@pytest.mark.parametrize(
    ("service", "env", "message"),
    [
        ("payroll", {}, "unknown service 'payroll'"),
        ("scheduler", {"RAPPORT_QUEUE_TYPE": "lazy"}, "RAPPORT_QUEUE_TYPE"),
        ("scheduler", {"RAPPORT_RETRY_DELAYS": "1,0,5"}, "RAPPORT_RETRY_DELAYS"),
        ("scheduler", {"RAPPORT_RETRY_DELAYS": "-1"}, "RAPPORT_RETRY_DELAYS"),
        ("scheduler", {"RAPPORT_RETRY_DELAYS": " , "}, "RAPPORT_RETRY_DELAYS"),
        ("scheduler", {"RAPPORT_RETRY_DELAYS": "1s,10s"}, "could not convert"),
        ("scheduler", {"RAPPORT_MAX_ATTEMPTS": "0"}, "RAPPORT_MAX_ATTEMPTS"),
    ],
)
def test_invalid_settings_are_refused(service: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_settings(service, env)


@pytest.mark.parametrize("flag", ["1", "true", "YES", "on"])
def test_production_refuses_the_default_secret(flag: str) -> None:
    with pytest.raises(ValueError, match="RAPPORT_SECRET_KEY is not set"):
        load_settings("scheduler", {"RAPPORT_PRODUCTION": flag})


def test_production_accepts_a_real_secret() -> None:
    key = secrets.token_urlsafe(48)
    env = {"RAPPORT_PRODUCTION": "1", "RAPPORT_SECRET_KEY": key}

    assert load_settings("scheduler", env).secret_key == key


@pytest.mark.parametrize("flag", ["", "0", "false", "no"])
def test_default_secret_is_fine_outside_production(flag: str) -> None:
    assert load_settings("scheduler", {"RAPPORT_PRODUCTION": flag}).secret_key


def test_production_refuses_an_empty_secret() -> None:
    # RAPPORT_SECRET_KEY= (e.g. compose interpolating an unset variable) is not a secret:
    # PyJWT refuses an empty HMAC key, so every sign-in would fail with a 500.
    with pytest.raises(ValueError, match="RAPPORT_SECRET_KEY"):
        load_settings("scheduler", {"RAPPORT_PRODUCTION": "1", "RAPPORT_SECRET_KEY": ""})


# -- bearer tokens -------------------------------------------------------------------------

SECRET = "unit-test-secret-" + "0123456789abcdef" * 2
# Far from the real time on purpose: tokens are judged by the application clock.
NOW = datetime(2031, 2, 28, 23, 30, tzinfo=UTC)
FRONT_DESK = Principal("u-7f3a", "desk@example.com", "front_desk", "Robin Frontdesk")
PRACTITIONER = Principal(
    "u-91c2", "m.okafor@example.com", "practitioner", "Maren Okafor", practitioner_id="p-12"
)


@pytest.mark.parametrize("principal", [FRONT_DESK, PRACTITIONER], ids=["desk", "practitioner"])
def test_token_round_trip(principal: Principal) -> None:
    token = issue_token(SECRET, principal, NOW, timedelta(hours=12))

    assert verify_token(SECRET, token, NOW + timedelta(hours=11, minutes=59)) == principal


def test_token_carries_issuer_audience_and_lifetime() -> None:
    token = issue_token(SECRET, FRONT_DESK, NOW, timedelta(hours=12))

    claims = jwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        audience=AUDIENCE,
        options={"verify_exp": False, "verify_iat": False},
    )

    assert (claims["iss"], claims["aud"], claims["sub"]) == (ISSUER, AUDIENCE, "u-7f3a")
    assert claims["exp"] - claims["iat"] == 12 * 3600


def assert_unauthorised(token: str, title: str, secret: str = SECRET) -> None:
    with pytest.raises(Problem) as caught:
        verify_token(secret, token, NOW)
    assert (caught.value.status, caught.value.title) == (401, title)


def test_expired_token_says_session_expired() -> None:
    issued = NOW - timedelta(hours=12)
    token = issue_token(SECRET, FRONT_DESK, issued, timedelta(hours=12))

    assert_unauthorised(token, "Session expired")


def test_a_token_is_judged_by_the_application_clock_not_the_real_time() -> None:
    # Issued and read in a system placed years from the real time: valid there, expired after.
    token = issue_token(SECRET, FRONT_DESK, NOW, timedelta(hours=12))

    assert verify_token(SECRET, token, NOW + timedelta(minutes=1)) == FRONT_DESK
    assert_unauthorised(token, "Not signed in", secret="x" * 40)
    with pytest.raises(Problem) as caught:
        verify_token(SECRET, token, NOW + timedelta(hours=12, seconds=1))
    assert caught.value.title == "Session expired"


def test_token_signed_with_another_secret_is_refused() -> None:
    token = issue_token("another-secret-" + "x" * 32, FRONT_DESK, NOW, timedelta(1))

    assert_unauthorised(token, "Not signed in")


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(NOW.timestamp())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-1", "role": "admin"}
    return base | {"iat": now, "exp": now + 3600} | overrides


@pytest.mark.parametrize(
    "bad",
    [
        claims(aud="rapport-portal"),
        claims(iss="someone-else"),
        {k: v for k, v in claims().items() if k != "role"},
        {k: v for k, v in claims().items() if k != "exp"},
    ],
    ids=["wrong-audience", "wrong-issuer", "no-role", "no-expiry"],
)
def test_token_with_wrong_claims_is_refused(bad: dict[str, Any]) -> None:
    assert_unauthorised(jwt.encode(bad, SECRET, algorithm="HS256"), "Not signed in")


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c"])
def test_garbage_token_is_refused(token: str) -> None:
    assert_unauthorised(token, "Not signed in")


def test_unsigned_token_is_refused() -> None:
    assert_unauthorised(jwt.encode(claims(), None, algorithm="none"), "Not signed in")


def test_tampered_token_is_refused() -> None:
    token = issue_token(SECRET, FRONT_DESK, NOW, timedelta(hours=1))
    header, payload, signature = token.split(".")
    forged = jwt.encode(
        claims(sub=FRONT_DESK.user_id, role="admin"),
        "a-guessed-secret-" + "0" * 32,
        algorithm="HS256",
    )

    assert_unauthorised(f"{header}.{forged.split('.')[1]}.{signature}", "Not signed in")


# -- JSON logs -----------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("notifier"))
    logger = logging.getLogger(f"rapport.unit.{uuid.uuid4().hex[:6]}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_log_line_is_one_json_object_with_correlation_and_extra_fields(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log
    token = correlation.set("req-5e1d")
    try:
        logger.warning(
            "reminder %s deferred", "r-1", extra={"reminder_id": "r-1", "channel": "sms"}
        )
    finally:
        correlation.reset(token)

    [entry] = lines(stream)
    ts = entry.pop("ts")
    assert entry == {
        "level": "warning",
        "service": "notifier",
        "logger": logger.name,
        "message": "reminder r-1 deferred",
        "correlation_id": "req-5e1d",
        "reminder_id": "r-1",
        "channel": "sms",
    }
    assert ts.endswith("+00:00")
    assert abs(datetime.fromisoformat(ts) - datetime.now(UTC)) < timedelta(minutes=1)


def test_log_line_without_correlation_has_no_correlation_id(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log

    logger.info("relay started")

    [entry] = lines(stream)
    assert "correlation_id" not in entry
    assert entry["message"] == "relay started"


def test_exception_and_odd_values_stay_on_one_json_line(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log
    due = datetime(2026, 3, 9, 18, 0, tzinfo=UTC)

    try:
        raise RuntimeError("SMTP said no\nsecond line")
    except RuntimeError:
        logger.exception("send failed", extra={"due_at": due})

    [entry] = lines(stream)
    assert entry["due_at"] == "2026-03-09 18:00:00+00:00"
    assert "RuntimeError: SMTP said no" in entry["exception"]
    assert entry["level"] == "error"


# -- invoice numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "number", "formatted"),
    [(2026, 1, "2026-000001"), (2026, 123, "2026-000123"), (2027, 999999, "2027-999999")],
)
def test_invoice_number_format(year: int, number: int, formatted: str) -> None:
    assert format_number(year, number) == formatted


def test_invoice_numbers_sort_in_issue_order_within_a_year() -> None:
    numbers = [format_number(2026, n) for n in (1, 9, 10, 100, 123456)]

    assert sorted(numbers) == numbers


# -- client validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("(617) 555-0123", "+16175550123"),
        ("617.555.0142", "+16175550142"),
        ("1 617 555 0187", "+16175550187"),
        ("+1 (617) 555-0199", "+16175550199"),
        ("+48 22 555 01 23", "+48225550123"),
    ],
)
def test_phone_numbers_are_normalised_to_e164_with_us_default(typed: str, e164: str) -> None:
    assert normalise_phone(typed) == e164


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("call me", "is not a phone number"),
        ("555-0123", "is not a valid phone number"),
        ("(617) 555-01234", "is not a valid phone number"),
        ("+1 000 555 0123", "is not a valid phone number"),
    ],
)
def test_invalid_phone_numbers_are_refused_with_a_readable_message(
    typed: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        normalise_phone(typed)


def test_email_domain_is_normalised() -> None:
    assert normalise_email("Avery.Lindqvist@EXAMPLE.com") == "Avery.Lindqvist@example.com"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("avery.example.com", "@-sign"),
        ("avery@", "after the @-sign"),
        ("avery lindqvist@example.com", "invalid characters"),
    ],
)
def test_invalid_emails_are_refused_with_a_readable_message(typed: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalise_email(typed)


def client(**overrides: Any) -> ClientFields:
    fields: dict[str, Any] = {
        "first_name": " Avery ",
        "last_name": "Lindqvist",
        "email": "avery.lindqvist@example.com",
        "phone": "(617) 555-0142",
        "time_zone": "America/New_York",
        "sms_consent": True,
        "email_consent": True,
    }
    return ClientFields.model_validate(fields | overrides)


def field_errors(exc: ValidationError) -> dict[str, str]:
    return {".".join(map(str, e["loc"])) or "body": e["msg"] for e in exc.errors()}


def test_valid_client_is_normalised() -> None:
    avery = client()

    assert avery.first_name == "Avery"
    assert avery.phone == "+16175550142"
    assert avery.columns()["preferred_channels"] == "sms,email"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"phone": "617-555-01"}, "phone", "is not a valid phone number"),
        ({"email": "avery@@example.com"}, "email", "@"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "is not an IANA time zone"),
        ({"time_zone": "Eastern"}, "time_zone", "is not an IANA time zone"),
        ({"first_name": "   "}, "first_name", "must not be blank"),
        ({"phone": None}, "body", "SMS consent needs a mobile number"),
        ({"phone": "  "}, "body", "SMS consent needs a mobile number"),
        ({"email": None}, "body", "email consent needs an email address"),
    ],
)
def test_invalid_client_fields_are_refused_with_a_readable_message(
    overrides: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        client(**overrides)

    errors = field_errors(caught.value)
    assert list(errors) == [field]
    assert message in errors[field]


def test_client_without_phone_is_fine_without_sms_consent() -> None:
    assert client(phone=None, sms_consent=False).phone is None


def test_duplicate_preferred_channels_are_stored_once() -> None:
    columns = client(preferred_channels=["email", "sms", "email"]).columns()

    assert columns["preferred_channels"] == "email,sms"


# -- intervals -----------------------------------------------------------------------------


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 4, 15, hour, minute, tzinfo=UTC)


def slot(start: tuple[int, int], end: tuple[int, int]) -> Interval:
    return Interval(at(*start), at(*end))


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        (slot((9, 0), (10, 0)), slot((10, 0), (11, 0)), False),  # back to back
        (slot((9, 0), (10, 0)), slot((8, 0), (9, 0)), False),
        (slot((9, 0), (10, 0)), slot((9, 50), (10, 40)), True),
        (slot((9, 0), (10, 0)), slot((9, 15), (9, 45)), True),  # inside
        (slot((9, 0), (10, 0)), slot((8, 0), (11, 0)), True),  # around
        (slot((9, 0), (10, 0)), slot((9, 0), (10, 0)), True),  # the same
        (slot((9, 0), (10, 0)), slot((13, 0), (14, 0)), False),
    ],
)
def test_interval_overlap(a: Interval, b: Interval, overlap: bool) -> None:
    assert a.overlaps(b) is overlap
    assert b.overlaps(a) is overlap


def test_session_interval_spans_the_duration() -> None:
    assert session_interval(at(9), timedelta(minutes=50)) == slot((9, 0), (9, 50))


def test_first_conflict_is_the_earliest_overlapping_booking() -> None:
    wanted = slot((10, 0), (11, 0))
    busy = [slot((10, 30), (11, 30)), slot((9, 0), (10, 0)), slot((9, 30), (10, 15))]

    assert first_conflict(wanted, busy) == slot((9, 30), (10, 15))


def test_back_to_back_bookings_do_not_conflict() -> None:
    wanted = slot((10, 0), (11, 0))

    assert first_conflict(wanted, [slot((9, 0), (10, 0)), slot((11, 0), (12, 0))]) is None
    assert first_conflict(wanted, []) is None
