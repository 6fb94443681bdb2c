"""Publishing with publisher confirms, a confirm timeout and bounded reconnects."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from kombu import Connection, Producer

log = logging.getLogger(__name__)


def body_text(body: bytes | str) -> str:
    """A received message body as text (kombu hands over bytes or str by content encoding)."""
    return body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body


class PublishError(RuntimeError):
    """The broker did not confirm the message (down, nacked, or timed out)."""


class Publisher:
    """Owns one connection; not thread-safe, so each thread that publishes has its own."""

    def __init__(
        self,
        connection: Connection,
        exchange: str,
        confirm_timeout: float,
        max_retries: int = 2,
        on_connect: Callable[[Any], None] | None = None,
    ) -> None:
        self.connection = connection
        self.on_connect = on_connect
        self.exchange = exchange
        self.confirm_timeout = confirm_timeout
        self.max_retries = max_retries
        self._producer: Producer | None = None

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            self.connection.ensure_connection(
                max_retries=self.max_retries,
                interval_start=0.2,
                interval_step=0.5,
                interval_max=2,
                timeout=self.confirm_timeout,
            )
            channel = self.connection.channel()
            if self.on_connect is not None:
                self.on_connect(channel)
            self._producer = Producer(channel)
        return self._producer

    def publish(
        self,
        body: str,
        *,
        routing_key: str,
        message_id: str,
        exchange: str | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> None:
        """Publish and wait for the broker's confirm; raise PublishError when it does not come."""
        try:
            producer = self._ensure_producer()
            producer.publish(
                body.encode("utf-8"),
                exchange=self.exchange if exchange is None else exchange,
                routing_key=routing_key,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                message_id=message_id,
                headers=dict(headers or {}),
                confirm_timeout=self.confirm_timeout,
                timeout=self.confirm_timeout,
            )
        except Exception as exc:
            self.reset()
            raise PublishError(f"{type(exc).__name__}: {exc}") from exc

    def heartbeat_check(self) -> None:
        if self._producer is not None:
            try:
                self.connection.heartbeat_check()
            except Exception:
                self.reset()

    def reset(self) -> None:
        """Drop the connection so that the next publish reconnects from scratch."""
        self._producer = None
        # A broken connection may fail to close; it is gone either way.
        with contextlib.suppress(Exception):
            self.connection.collect()

    def close(self) -> None:
        self._producer = None
        self.connection.release()
