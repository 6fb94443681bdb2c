"""SMS through the real twilio SDK. TWILIO_API_BASE_URL sends the SDK's requests to a
Twilio-compatible endpoint instead of api.twilio.com (tests run a fake one on loopback)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, timedelta
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from twilio.base import values
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from services.notifier.channels import (
    InDoubt,
    OutboundMessage,
    PermanentFailure,
    TransientFailure,
    Undecided,
    body_digest,
)

TWILIO_API = "https://api.twilio.com"
# Twilio error codes worth another try: queue overflow, unreachable handset (often temporary).
TRANSIENT_CODES = {30001, 30003}
# A message in doubt is looked for among this many of the account's latest to that number.
LOOK_UP_LIMIT = 200
CLOCK_SLACK = timedelta(minutes=5)  # Twilio's clock against ours
# Invalid 'To' number, unsubscribed recipient (replied STOP), not a mobile number.
PERMANENT_CODES = {21211, 21610, 21614}


class RedirectingHttpClient(TwilioHttpClient):
    """The SDK's HTTP client, one keep-alive session shared by every sending thread (its pool
    sized for them).

    Once ``settle`` has run, the session no longer reads the environment for each request
    (``trust_env`` off): requests would otherwise scan os.environ for proxies, NO_PROXY and a CA
    bundle on every message, a fifth of the time the SDK took to send one, more the larger the
    environment."""

    def __init__(self, base_url: str | None, timeout: float, connections: int = 10) -> None:
        super().__init__(timeout=timeout)
        self.base_url = (base_url or "").rstrip("/")
        assert self.session is not None
        for scheme in ("https://", "http://"):
            self.session.mount(scheme, HTTPAdapter(pool_maxsize=max(10, connections)))

    def settle(self, url: str) -> None:
        """Read the environment once, for ``url`` (where the SDK sends every request), as
        requests reads it per request with ``trust_env`` on, and hand the result to the session:
        the proxy HTTPS_PROXY / HTTP_PROXY / ALL_PROXY name unless NO_PROXY excepts the host,
        and the CAs REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE name. A notifier behind a proxy keeps
        sending through it; a change to those variables takes a restart."""
        assert self.session is not None
        self.proxy = get_environ_proxies(self._target(url))
        self.session.verify = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
        self.session.trust_env = False

    def _target(self, url: str) -> str:
        if self.base_url and url.startswith(TWILIO_API):
            return self.base_url + url[len(TWILIO_API) :]
        return url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        return super().request(method, self._target(url), *args, **kwargs)


def classify(exc: TwilioRestException) -> TransientFailure | PermanentFailure:
    code = int(exc.code) if exc.code else None
    reason = f"twilio {exc.status}" + (f" code {code}" if code else "")
    if code in TRANSIENT_CODES or exc.status == 429 or exc.status >= 500:
        return TransientFailure(reason, str(code or exc.status))
    if code in PERMANENT_CODES:
        return PermanentFailure(reason, str(code))
    return PermanentFailure(reason, str(code or exc.status))


class TwilioSms:
    name = "twilio"

    def __init__(self, extra: Mapping[str, str], public_url: str) -> None:
        timeout = float(extra.get("TWILIO_TIMEOUT", "10"))
        connections = int(extra.get("NOTIFIER_SEND_CONCURRENCY", "8"))
        self.from_number = extra.get("TWILIO_FROM_NUMBER", "")
        self.status_callback = f"{public_url}/webhooks/twilio/status"
        http = RedirectingHttpClient(extra.get("TWILIO_API_BASE_URL"), timeout, connections)
        self.client = Client(
            extra["TWILIO_ACCOUNT_SID"], extra.get("TWILIO_AUTH_TOKEN", ""), http_client=http
        )
        # The one origin the SDK sends to (TWILIO_EDGE / TWILIO_REGION move it).
        http.settle(self.client.get_hostname(TWILIO_API))
        # The SDK imports its API modules on first use (tens of milliseconds, holding the
        # interpreter): at start-up, not in front of the first confirmation of a busy minute.
        _ = self.client.messages

    def send(self, message: OutboundMessage) -> str:
        try:
            sent = self.client.messages.create(
                to=message.to,
                from_=self.from_number,
                body=message.text,
                status_callback=self.status_callback,
            )
        except TwilioRestException as exc:
            raise classify(exc) from exc
        except requests.RequestException as exc:
            raise TransientFailure(f"twilio unreachable: {type(exc).__name__}", "network") from exc
        return str(sent.sid)

    def look_up(self, doubt: InDoubt) -> str | None:
        """Ask Twilio for the account's messages from our number to ``doubt.to`` sent since the
        message was marked sending. The Message resource does not return the StatusCallback URL,
        so ours is recognised by its body (compared as a SHA-256 digest, the log keeps no text)
        among the messages the log does not already account for. Nothing unaccounted for: Twilio
        never got it. Something unaccounted for that is not ours (a body Twilio altered, another
        system on the number): undecided."""
        if doubt.body_digest is None:
            raise Undecided("no body digest to recognise the message by")
        start = doubt.since - CLOCK_SLACK
        try:
            found = self.client.messages.list(
                to=doubt.to,
                from_=self.from_number or values.unset,
                # Twilio documents DateSent as whole GMT days (YYYY-MM-DD); narrowed below.
                date_sent_after=start.astimezone(UTC).strftime("%Y-%m-%d"),
                limit=LOOK_UP_LIMIT,
            )
        except (TwilioRestException, requests.RequestException) as exc:
            raise Undecided(f"twilio could not be asked: {type(exc).__name__}") from exc
        unaccounted = [
            m
            for m in found
            if m.sid not in doubt.known_ids and (m.date_sent is None or m.date_sent >= start)
        ]
        ours = [m for m in unaccounted if body_digest(m.body or "") == doubt.body_digest]
        if ours:
            return str(min(ours, key=lambda m: m.date_created or doubt.since).sid)
        if unaccounted:
            raise Undecided("twilio has messages to that number the log does not account for")
        return None
