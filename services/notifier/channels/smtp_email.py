"""Email through SMTP: a plain-text and an HTML part, and an .ics for confirmations and changes."""

from __future__ import annotations

import functools
import smtplib
import ssl
import threading
import time
from collections.abc import Mapping
from email import policy
from email.charset import QP, Charset
from email.generator import Generator
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

from services.notifier.channels import OutboundMessage, PermanentFailure, TransientFailure

# Bodies in UTF-8, quoted-printable: a plain-English message stays readable on the wire.
UTF8 = Charset("utf-8")
UTF8.body_encoding = QP
# Headers whose value is the same in every email (the sender, the parts' types and encodings):
# nine of an invite's fourteen. A multipart's Content-Type is not: it carries the boundary.
_REPEATED = frozenset(
    {"From", "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition"}
)
_FOLDED: dict[tuple[object, ...], bytes] = {}


class _FoldedOnce(policy.Compat32):
    """compat32, folding each header every email repeats only the first time: folding was
    nearly half the time ``wire`` took, and the same header folds the same way every time. The
    key holds what compat32's folding reads (the generator flattens each part with a clone)."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name not in _REPEATED or not isinstance(value, str) or "boundary=" in value:
            return super().fold_binary(name, value)
        key = (self.linesep, self.max_line_length, self.cte_type, name, value)
        folded = _FOLDED.get(key)
        if folded is None:
            folded = super().fold_binary(name, value)
            if len(_FOLDED) < 256:
                _FOLDED[key] = folded
        return folded


SMTP_LINES = _FoldedOnce(linesep="\r\n")


def build(message: OutboundMessage, sender: str) -> Message:
    """Text, HTML and - for an invite - the calendar as a third alternative with its METHOD,
    which is what makes mail clients offer it as an invite rather than an attachment.

    Built with the ``email.mime`` classes (compat32): a message costs about a third of the
    Python time that ``EmailMessage`` with the default policy took, which parsed every header
    it set into a structured object and folded it again when flattened. Header text that is
    not ASCII is RFC 2047-encoded here; ``wire`` renders addresses that are not ASCII
    for an SMTPUTF8 server.

    The boundary is chosen here, as the generator would choose it, so that flattening the
    message does not search every part for it with a regular expression compiled for each
    message (a seventh of ``wire``): every part is quoted-printable, which writes "=" only
    before two hex digits or a line break, so the boundary's run of "=" cannot occur in one."""
    boundary = Generator._make_boundary()  # type: ignore[attr-defined]  # typeshed omits it
    email = MIMEMultipart("alternative", boundary=boundary)
    from_header, _, domain = _sender(sender)
    email["From"] = from_header
    email["To"] = message.to
    email["Subject"] = _header(message.subject or "")
    if message.written_at is not None:  # the application clock's, never the machine's
        email["Date"] = format_datetime(message.written_at)
    email["Message-ID"] = f"<{message.message_id}@{domain}>"
    email.attach(_part(message.text, "plain"))
    if message.html:
        email.attach(_part(message.html, "html"))
    if message.calendar:
        email.attach(_part(message.calendar.decode(), "calendar", _method(message.calendar)))
    return email


def _part(text: str, subtype: str, method: str | None = None) -> Message:
    """The part ``MIMENonMultipart`` and ``set_payload(text, UTF8)`` make (for the calendar,
    with its METHOD and Content-Disposition) in a fifth of the time, as both of its halves are
    theirs: the headers, which do not depend on the text, as the email package wrote them
    (``_part_headers``); the payload as ``set_charset`` writes it, the text's UTF-8 encoded by
    the charset (quoted-printable), an empty text left empty."""
    part = Message()
    for name, value in _part_headers(subtype, method):
        part[name] = value
    part.set_payload(UTF8.body_encode(text.encode("utf-8")) if text else "")
    return part


@functools.lru_cache(maxsize=8)
def _part_headers(subtype: str, method: str | None) -> tuple[tuple[str, str], ...]:
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload("", UTF8)
    del part["MIME-Version"]  # once, on the message itself
    if method:
        part.set_param("method", method)
        part.add_header("Content-Disposition", "inline", filename="invite.ics")
    return tuple(part.items())


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


@functools.lru_cache(maxsize=16)
def _sender(sender: str) -> tuple[str, str, str]:
    """The From header, the envelope sender and the domain of Message-IDs, for ``sender``
    (EMAIL_FROM): parsed once, not three times an email."""
    name, address = parseaddr(sender)
    domain = address.rpartition("@")[2] or "rapport.invalid"
    return _header(formataddr((name, address))), address, domain


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
            smtp.sendmail(_sender(self.sender)[1], [message.to], data, mail_options=options)
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
