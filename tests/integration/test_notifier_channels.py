"""The SMS and email channels against loopback servers: what each provider answer becomes."""

from __future__ import annotations

import email
import http.client
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from services.notifier.channels import OutboundMessage, PermanentFailure, TransientFailure
from services.notifier.channels.smtp_email import SmtpEmail
from services.notifier.channels.twilio_sms import TwilioSms
from tests.fakes.smtp import SmtpServer
from tests.fakes.twilio import Answer, FakeTwilioServer
from tests.support import free_port

pytestmark = pytest.mark.integration
EMAIL = OutboundMessage("m-1", "email", "jordan@example.com", "Hello", "Subject", "<p>Hello</p>")
SMS = OutboundMessage("m-2", "sms", "+16175550123", "Hello")


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_smtp_logs_in_when_a_username_is_set() -> None:
    server = SmtpServer(login=("rapport", "s3cret"))
    with server as mailbox:
        env = server.env() | {"SMTP_USERNAME": "rapport", "SMTP_PASSWORD": "s3cret"}
        provider_id = SmtpEmail(env).send(EMAIL)

        with pytest.raises(PermanentFailure, match="smtp 535"):
            SmtpEmail(env | {"SMTP_PASSWORD": "wrong"}).send(EMAIL)
        with pytest.raises(PermanentFailure, match="smtp 530"):
            SmtpEmail(server.env()).send(EMAIL)  # no login where the server needs one

    assert provider_id == "m-1@harbourstreet.example"  # in the sender's (EMAIL_FROM's) domain
    [mail] = mailbox.received()
    assert mail["Subject"] == "Subject"


def test_smtp_sends_text_that_is_not_ascii_and_an_internationalized_address() -> None:
    """Long lines, accents and a mailbox name that is not ASCII arrive as written: headers
    RFC 2047-encoded for an ASCII address, UTF-8 through SMTPUTF8 for an international one."""
    text = "Hola Jörg — tu cita es el miércoles. " * 40  # one line of about 1,500 characters
    calendar = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nSUMMARY:Séance\r\nEND:VCALENDAR\r\n"
    server = SmtpServer()
    with server as mailbox:
        env = server.env() | {"EMAIL_FROM": "Clínica Café <citas@cafe.example>"}
        for n, to in enumerate(("jorg@example.com", "jörg@例え.example")):
            SmtpEmail(env).send(
                replace(
                    EMAIL,
                    message_id=f"m-{n}",
                    to=to,
                    text=text,
                    subject="Tu cita del miércoles",
                    html=f"<p>{text}</p>",
                    calendar=calendar.encode(),
                )
            )
        received = mailbox.received()

    mails = [email.message_from_bytes(m.as_bytes(), policy=policy.default) for m in received]
    assert [mail["To"] for mail in mails] == ["jorg@example.com", "jörg@例え.example"]
    for mail in mails:
        assert mail["Subject"] == "Tu cita del miércoles"
        assert mail["From"] == "Clínica Café <citas@cafe.example>"
        parts = {part.get_content_type(): part for part in mail.walk()}
        assert parts["text/plain"].get_content() == text  # type: ignore[attr-defined]
        assert parts["text/html"].get_content() == f"<p>{text}</p>"  # type: ignore[attr-defined]
        assert parts["text/calendar"].get_param("method") == "REQUEST"
        assert "SUMMARY:Séance" in parts["text/calendar"].get_content()  # type: ignore[attr-defined]
    assert received[0]["Subject"].startswith("=?utf-8?")  # the ASCII address: 7-bit headers


def test_smtp_refused_recipient_is_permanent_and_an_absent_server_transient() -> None:
    server = SmtpServer()
    with server as mailbox:
        mailbox.refuse_with = "550 5.1.1 no such user"
        with pytest.raises(PermanentFailure, match="smtp 550"):
            SmtpEmail(server.env()).send(EMAIL)
        mailbox.refuse_with = "451 4.3.0 try again later"
        with pytest.raises(TransientFailure, match="smtp 451"):
            SmtpEmail(server.env()).send(EMAIL)

    nobody = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(free_port()), "SMTP_TIMEOUT": "2"}
    with pytest.raises(TransientFailure, match="unreachable"):
        SmtpEmail(nobody).send(EMAIL)


def test_smtp_keeps_one_connection_per_thread_and_opens_another_when_it_is_gone() -> None:
    server = SmtpServer()
    with server as mailbox:
        channel = SmtpEmail(server.env())
        for n in range(3):
            channel.send(replace(EMAIL, message_id=f"m-{n}"))
        assert len(mailbox.received()) == 3
        assert len(set(mailbox.peers)) == 1  # one connection for all three

        other = threading.Thread(target=channel.send, args=(replace(EMAIL, message_id="m-t"),))
        other.start()
        other.join(10)
        assert len(set(mailbox.peers)) == 2  # another thread, its own connection

        channel.kept.smtp.sock.shutdown(socket.SHUT_RDWR)  # the connection dies unnoticed
        with pytest.raises(TransientFailure, match="unreachable"):
            channel.send(replace(EMAIL, message_id="m-lost"))  # reported; the reminder retries
        channel.send(replace(EMAIL, message_id="m-4"))  # on a fresh connection
        assert len(set(mailbox.peers)) == 3

        channel.kept.smtp.sock.shutdown(socket.SHUT_RDWR)
        channel.IDLE_CHECK = 0  # idle long enough to be checked with NOOP before use
        channel.send(replace(EMAIL, message_id="m-5"))
        assert len(set(mailbox.peers)) == 4
        assert [m["Message-ID"] for m in mailbox.received()][-2:] == [
            "<m-4@harbourstreet.example>",
            "<m-5@harbourstreet.example>",
        ]


def test_twilio_answers_become_sids_or_classified_failures() -> None:
    server = FakeTwilioServer()
    with server as fake:
        twilio = TwilioSms(server.env() | {"TWILIO_TIMEOUT": "1"}, "https://rapport.example")
        fake.script(Answer(400, 21614), Answer(201, hang=3), Answer(503))

        with pytest.raises(PermanentFailure, match="21614"):
            twilio.send(SMS)
        with pytest.raises(TransientFailure, match="unreachable"):
            twilio.send(SMS)  # no answer within TWILIO_TIMEOUT
        with pytest.raises(TransientFailure, match="503"):
            twilio.send(SMS)
        sid = twilio.send(SMS)

    assert sid.startswith("SM")
    assert [r["To"] for r in fake.sent()] == ["+16175550123"] * 4


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    """A forwarding HTTP proxy on loopback (its URL, and every URL it was asked for), in an
    environment that names no other proxy."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    asked: list[str] = []

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            asked.append(self.path)  # absolute-form: a proxy is asked for the whole URL
            target = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=5)
            headers = {k: v for k, v in self.headers.items() if "connection" not in k.lower()}
            upstream.request("POST", target.path, body, headers)
            answer = upstream.getresponse()
            data = answer.read()
            upstream.close()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.getheader("Content-Type", "text/plain"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("no_proxy", [None, "127.0.0.1"], ids=["proxied", "excepted"])
def test_twilio_sends_through_the_proxy_the_environment_names_at_start_up(
    proxy: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch, no_proxy: str | None
) -> None:
    """The environment is read once, when the channel is made, as requests reads it: the
    proxy HTTP(S)_PROXY names carries every message unless NO_PROXY excepts the host."""
    proxy_url, asked = proxy
    server = FakeTwilioServer()
    with server as fake:
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        if no_proxy:
            monkeypatch.setenv("NO_PROXY", no_proxy)
        twilio = TwilioSms(server.env(), "https://rapport.example")
        monkeypatch.delenv("HTTP_PROXY")  # read at start-up, not for each message
        monkeypatch.delenv("NO_PROXY", raising=False)
        sids = [twilio.send(replace(SMS, message_id=f"m-{n}")) for n in range(2)]

    assert all(sid.startswith("SM") for sid in sids)
    assert [r["To"] for r in fake.sent()] == ["+16175550123"] * 2
    path = "/2010-04-01/Accounts/" + server.env()["TWILIO_ACCOUNT_SID"] + "/Messages.json"
    assert asked == ([] if no_proxy else [server.url + path] * 2)
