"""SMS through the real twilio SDK. TWILIO_API_BASE_URL sends the SDK's requests to a
Twilio-compatible endpoint instead of api.twilio.com (tests run a fake one on loopback)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from services.notifier.channels import OutboundMessage, PermanentFailure, TransientFailure

TWILIO_API = "https://api.twilio.com"
# Twilio error codes worth another try: queue overflow, unreachable handset (often temporary).
TRANSIENT_CODES = {30001, 30003}
# Invalid 'To' number, unsubscribed recipient (replied STOP), not a mobile number.
PERMANENT_CODES = {21211, 21610, 21614}


class RedirectingHttpClient(TwilioHttpClient):
    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = (base_url or "").rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if self.base_url and url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


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
        self.from_number = extra.get("TWILIO_FROM_NUMBER", "")
        self.status_callback = f"{public_url}/webhooks/twilio/status"
        self.client = Client(
            extra["TWILIO_ACCOUNT_SID"],
            extra.get("TWILIO_AUTH_TOKEN", ""),
            http_client=RedirectingHttpClient(extra.get("TWILIO_API_BASE_URL"), timeout),
        )

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
