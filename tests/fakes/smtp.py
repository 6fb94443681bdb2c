"""An aiosmtpd server on loopback that keeps every message it accepts."""

from __future__ import annotations

import email
import threading
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support import free_port


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()
        self.refuse_with: str | None = None  # e.g. "550 no such user"
        self.peers: list[tuple[str, int]] = []  # the client end of each message's connection

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:  # noqa: N802
        if self.refuse_with:
            return self.refuse_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
            self.peers.append(tuple(session.peer[:2]))
        return "250 Message accepted"

    def received(self) -> list[Message]:
        with self.lock:
            return list(self.messages)


class Authenticator:
    def __init__(self, login: str, password: str) -> None:
        self.expected = (login.encode(), password.encode())

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == self.expected
        return AuthResult(success=ok, handled=False)


class SmtpServer:
    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        auth: dict[str, Any] = {}
        if login:
            auth = {
                "authenticator": Authenticator(*login),
                "auth_require_tls": False,
                "auth_required": True,
            }
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **auth)

    def env(self) -> dict[str, str]:
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.port),
            "SMTP_TIMEOUT": "5",
            "EMAIL_FROM": "reminders@harbourstreet.example",
        }

    def __enter__(self) -> Mailbox:
        self.controller.start()
        return self.mailbox

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
