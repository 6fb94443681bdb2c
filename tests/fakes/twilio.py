"""A Twilio-compatible HTTP server on 127.0.0.1 for the real twilio SDK (TWILIO_API_BASE_URL):
POST /2010-04-01/Accounts/{sid}/Messages.json with scriptable answers, every request recorded."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from twilio.request_validator import RequestValidator

MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
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

    def script(self, *answers: Answer) -> None:
        with self.lock:
            self.answers.extend(answers)

    def sent(self) -> list[dict[str, str]]:
        with self.lock:
            return list(self.requests)

    def _next(self, form: dict[str, str]) -> Answer:
        with self.lock:
            self.requests.append(form)
            self.received.set()
            return self.answers.popleft() if self.answers else Answer(201)


def _handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            match = MESSAGES.match(self.path)
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if match is None or self.headers.get("Authorization", "") == "":
                self._reply(404, {"code": 20404, "message": "not found", "status": 404})
                return
            answer = fake._next(form)
            if answer.hang:
                threading.Event().wait(answer.hang)
            if answer.status == 201:
                sid = "SM" + uuid.uuid4().hex
                body = {
                    "sid": sid,
                    "account_sid": match["sid"],
                    "to": form.get("To"),
                    "from": form.get("From"),
                    "body": form.get("Body"),
                    "status": "queued",
                    "num_segments": "1",
                    "uri": f"/2010-04-01/Accounts/{match['sid']}/Messages/{sid}.json",
                }
                self._reply(201, body)
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

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler


class FakeTwilioServer:
    def __init__(self) -> None:
        self.fake = FakeTwilio()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.fake))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

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
