"""Email through SMTP: a plain-text and an HTML part, and an .ics for confirmations and changes."""

from __future__ import annotations

import smtplib
import ssl
import threading
import time
from collections.abc import Mapping
from email import policy
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr, parseaddr

from services.notifier.channels import OutboundMessage, PermanentFailure, TransientFailure

# Bodies in UTF-8, quoted-printable: a plain-English message stays readable on the wire.
UTF8 = Charset("utf-8")
UTF8.body_encoding = QP
SMTP_LINES = policy.compat32.clone(linesep="\r\n")


def build(message: OutboundMessage, sender: str) -> Message:
    """Text, HTML and - for an invite - the calendar as a third alternative with its METHOD,
    which is what makes mail clients offer it as an invite rather than an attachment.

    Built with the ``email.mime`` classes (compat32): a message costs about a third of the
    Python time that ``EmailMessage`` with the default policy took, which parsed every header
    it set into a structured object and folded it again when flattened. Header text that is
    not ASCII is RFC 2047-encoded here; ``wire`` renders addresses that are not ASCII
    for an SMTPUTF8 server."""
    email = MIMEMultipart("alternative")
    name, address = parseaddr(sender)
    email["From"] = _header(formataddr((name, address)))
    email["To"] = message.to
    email["Subject"] = _header(message.subject or "")
    if message.written_at is not None:  # the application clock's, never the machine's
        email["Date"] = format_datetime(message.written_at)
    email["Message-ID"] = f"<{message.message_id}@{_domain(sender)}>"
    email.attach(_part(message.text, "plain"))
    if message.html:
        email.attach(_part(message.html, "html"))
    if message.calendar:
        calendar = _part(message.calendar.decode(), "calendar")
        calendar.set_param("method", _method(message.calendar))
        calendar.add_header("Content-Disposition", "inline", filename="invite.ics")
        email.attach(calendar)
    return email


def _part(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(text, UTF8)
    del part["MIME-Version"]  # once, on the message itself
    return part


def _header(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


def international(email: Message) -> bool:
    """Whether an address needs an SMTPUTF8 server (a mailbox name that is not ASCII)."""
    return not all(str(email[field]).isascii() for field in ("From", "To"))


def wire(email: Message) -> tuple[bytes, tuple[str, ...]]:
    """The message as sent, lines ending in CRLF, and the MAIL options it needs: 7-bit, or
    UTF-8 headers (SMTPUTF8) for an internationalized address."""
    if international(email):
        return email.as_bytes(policy=policy.SMTPUTF8), ("SMTPUTF8", "BODY=8BITMIME")
    return email.as_bytes(policy=SMTP_LINES), ()


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "rapport.invalid"


def _method(calendar: bytes) -> str:
    return "CANCEL" if b"METHOD:CANCEL" in calendar else "REQUEST"


def classify(exc: Exception) -> TransientFailure | PermanentFailure:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        code = codes[0] if codes else 550
        return _by_code(code)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code)
    return TransientFailure(f"smtp unreachable: {type(exc).__name__}", "network")


def _by_code(code: int) -> TransientFailure | PermanentFailure:
    if 500 <= code < 600:
        return PermanentFailure(f"smtp {code}", str(code))
    return TransientFailure(f"smtp {code}", str(code))


class SmtpEmail:
    """One SMTP connection per sending thread, kept open across emails: checked with NOOP when it
    sat idle, opened afresh when that fails, and dropped after any failed send (the failure is
    reported as before, so the reminder is retried on a fresh connection)."""

    name = "smtp"
    IDLE_CHECK = 5.0  # seconds idle after which a kept connection is checked before use

    def __init__(self, extra: Mapping[str, str]) -> None:
        self.host = extra["SMTP_HOST"]
        self.port = int(extra.get("SMTP_PORT", "25"))
        self.username = extra.get("SMTP_USERNAME")
        self.password = extra.get("SMTP_PASSWORD", "")
        self.starttls = extra.get("SMTP_STARTTLS", "").lower() in {"1", "true", "yes", "on"}
        self.timeout = float(extra.get("SMTP_TIMEOUT", "10"))
        self.sender = extra.get("EMAIL_FROM", "reminders@rapport.invalid")
        self.kept = threading.local()

    def send(self, message: OutboundMessage) -> str:
        email = build(message, self.sender)
        data, options = wire(email)
        try:
            smtp = self._connection()
            smtp.sendmail(parseaddr(self.sender)[1], [message.to], data, mail_options=options)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise classify(exc) from exc
        self.kept.used = time.monotonic()
        return str(email["Message-ID"]).strip("<>")

    def _connection(self) -> smtplib.SMTP:
        smtp: smtplib.SMTP | None = getattr(self.kept, "smtp", None)
        if smtp is not None and time.monotonic() - self.kept.used > self.IDLE_CHECK:
            try:
                code, _ = smtp.noop()
            except (smtplib.SMTPException, OSError):
                code = 0
            if code != 250:
                self.close()
                smtp = None
        if smtp is None:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            try:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password)
            except BaseException:
                smtp.close()
                raise
            self.kept.smtp, self.kept.used = smtp, time.monotonic()
        return smtp

    def close(self) -> None:
        """Drop this thread's connection (politely if it still answers)."""
        smtp: smtplib.SMTP | None = getattr(self.kept, "smtp", None)
        self.kept.smtp = None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()
