"""Email through SMTP: a plain-text and an HTML part, and an .ics for confirmations and changes."""

from __future__ import annotations

import smtplib
import ssl
import threading
import time
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from services.notifier.channels import OutboundMessage, PermanentFailure, TransientFailure


def build(message: OutboundMessage, sender: str) -> EmailMessage:
    """Text, HTML and - for an invite - the calendar as a third alternative with its METHOD,
    which is what makes mail clients offer it as an invite rather than an attachment."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = message.subject or ""
    if message.written_at is not None:  # the application clock's, never the machine's
        email["Date"] = format_datetime(message.written_at)
    email["Message-ID"] = f"<{message.message_id}@{_domain(sender)}>"
    email.set_content(message.text)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    if message.calendar:
        email.add_alternative(
            message.calendar,
            maintype="text",
            subtype="calendar",
            params={"method": _method(message.calendar), "charset": "utf-8"},
            disposition="inline",
            filename="invite.ics",
        )
    return email


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
        try:
            smtp = self._connection()
            smtp.send_message(email)
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
