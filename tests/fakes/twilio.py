"""A Twilio-compatible HTTP server on 127.0.0.1 for the real twilio SDK (TWILIO_API_BASE_URL):
POST /2010-04-01/Accounts/{sid}/Messages.json with scriptable answers, every request recorded;
GET of the same path lists the messages it accepted (``To``, ``From``, ``DateSent>`` /
``DateSent<`` / ``DateSent`` filters, ``PageSize`` paging), newest first, in Twilio's JSON shape.

A message a 201 answer accepts exists from the moment the request arrives, even while the answer
is held (``hang``): Twilio has it although the caller never hears so. Its date_sent is the fake's
clock (``clock``: the suite's application clock unless a test gives it another)."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from twilio.request_validator import RequestValidator

from shared import clock as app_clock

MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
PAGE_SIZE = 50
ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "fake-twilio-auth-token"  # noqa: S105 - a test double's token
FROM_NUMBER = "+16175550199"


@dataclass
class Answer:
    status: int
    code: int | None = None
    hang: float = 0.0  # seconds to wait before answering (a slow or stuck Twilio)


@dataclass
class FakeTwilio:
    answers: deque[Answer] = field(default_factory=deque)
    requests: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    received: threading.Event = field(default_factory=threading.Event)
    messages: list[dict[str, Any]] = field(default_factory=list)  # what Twilio holds, oldest first
    lists: list[dict[str, str]] = field(default_factory=list)  # every list request's filters
    # The suite's clock (RAPPORT_TEST_NOW places it), as Twilio's agrees with a real system's.
    clock: Callable[[], datetime] = field(default=lambda: app_clock.now())
    list_error: int | None = None  # answer every list request with this HTTP status

    def has(self, to: str) -> int:
        """How many messages Twilio holds to ``to``."""
        with self.lock:
            return sum(1 for m in self.messages if m["to"] == to)

    def script(self, *answers: Answer) -> None:
        with self.lock:
            self.answers.extend(answers)

    def sent(self) -> list[dict[str, str]]:
        with self.lock:
            return list(self.requests)

    def _next(self, form: dict[str, str], account: str) -> tuple[Answer, dict[str, Any] | None]:
        with self.lock:
            self.requests.append(form)
            answer = self.answers.popleft() if self.answers else Answer(201)
            created = None
            if answer.status == 201:
                created = _resource(account, form, self.clock())
                self.messages.append(created)
            self.received.set()
            return answer, created

    def _list(self, query: dict[str, str]) -> list[dict[str, Any]]:
        with self.lock:
            self.lists.append(query)
            found = [m for m in self.messages if _matches(m, query)]
        return sorted(found, key=lambda m: m["_sent"], reverse=True)


def _resource(account: str, form: dict[str, str], at: datetime) -> dict[str, Any]:
    """A Message resource as Twilio returns it (dates in RFC 2822, GMT)."""
    sid = "SM" + uuid.uuid4().hex
    stamp = format_datetime(at.astimezone(UTC), usegmt=True)
    return {
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": form.get("Body"),
        "date_created": stamp,
        "date_sent": stamp,
        "date_updated": stamp,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json",
        },
        "to": form.get("To"),
        "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
        "_sent": at.astimezone(UTC),  # not served
    }


def _bound(value: str) -> datetime | date:
    """Twilio takes YYYY-MM-DD (whole days) or an ISO 8601 instant, as the SDK sends it."""
    if len(value) == 10:
        return date.fromisoformat(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _matches(message: dict[str, Any], query: dict[str, str]) -> bool:
    sent: datetime = message["_sent"]
    for key, field_name in (("To", "to"), ("From", "from")):
        if key in query and message[field_name] != query[key]:
            return False
    for key, keep in (
        ("DateSent>", lambda at, b: at >= b),
        ("DateSent<", lambda at, b: at <= b),
        ("DateSent", lambda at, b: at == b),
    ):
        if key in query:
            bound = _bound(query[key])
            at = sent.date() if not isinstance(bound, datetime) else sent
            if not keep(at, bound):
                return False
    return True


def _handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            match = MESSAGES.match(self.path)
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            if len(body) < length:
                # The client went away mid-request (a worker killed while sending): Twilio
                # never saw a whole request, so it creates no message.
                self.close_connection = True
                return
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            if match is None or self.headers.get("Authorization", "") == "":
                self._reply(404, {"code": 20404, "message": "not found", "status": 404})
                return
            answer, created = fake._next(form, match["sid"])
            if answer.hang:
                threading.Event().wait(answer.hang)
            if created is not None:
                self._reply(201, _public(created))
            else:
                self._reply(
                    answer.status,
                    {
                        "code": answer.code,
                        "message": f"fake error {answer.code}",
                        "more_info": "https://www.twilio.com/docs/errors",
                        "status": answer.status,
                    },
                )

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            match = MESSAGES.match(url.path)
            if match is None or self.headers.get("Authorization", "") == "":
                self._reply(404, {"code": 20404, "message": "not found", "status": 404})
                return
            if fake.list_error is not None:
                status = fake.list_error
                self._reply(status, {"code": 20500, "message": "fake error", "status": status})
                return
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            size = int(query.pop("PageSize", PAGE_SIZE))
            page = int(query.pop("Page", 0))
            query.pop("PageToken", None)
            found = fake._list(query)
            chunk = found[page * size : (page + 1) * size]

            def page_uri(n: int) -> str:
                return f"{url.path}?" + urlencode({**query, "PageSize": size, "Page": n})

            more = (page + 1) * size < len(found)
            self._reply(
                200,
                {
                    "messages": [_public(m) for m in chunk],
                    "end": page * size + max(len(chunk) - 1, 0),
                    "first_page_uri": page_uri(0),
                    "next_page_uri": page_uri(page + 1) if more else None,
                    "page": page,
                    "page_size": size,
                    "previous_page_uri": page_uri(page - 1) if page else None,
                    "start": page * size,
                    "uri": page_uri(page),
                },
            )

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if not k.startswith("_")}


class FakeTwilioServer:
    def __init__(self) -> None:
        self.fake = FakeTwilio()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.fake))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def env(self) -> dict[str, str]:
        return {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_BASE_URL": self.url,
            "TWILIO_TIMEOUT": "5",
        }

    def __enter__(self) -> FakeTwilio:
        self.thread.start()
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def signed(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    """The X-Twilio-Signature header Twilio would send for this webhook."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}
