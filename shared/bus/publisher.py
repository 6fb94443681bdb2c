"""Publishing with publisher confirms, a confirm timeout and bounded reconnects."""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kombu import Connection, Producer

log = logging.getLogger(__name__)


def body_text(body: bytes | str) -> str:
    """A received message body as text (kombu hands over bytes or str by content encoding)."""
    return body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body


class PublishError(RuntimeError):
    """The broker did not confirm the message (down, nacked, or timed out)."""


@dataclass(frozen=True)
class Outgoing:
    """One message for publish_many."""

    body: str
    routing_key: str
    message_id: str


@dataclass
class _Confirms:
    """The broker's acks and nacks on one channel in confirm mode, by delivery tag (1, 2, ...:
    every publish on the channel, one at a time or pipelined, takes the next tag)."""

    published: int = 0
    acked_upto: int = 0
    acked: set[int] = field(default_factory=set)
    nacked: set[int] = field(default_factory=set)

    def on_ack(self, tag: int, multiple: bool) -> None:
        if multiple:
            self.acked_upto = max(self.acked_upto, tag)
        else:
            self.acked.add(tag)

    def on_nack(self, tag: int, multiple: bool) -> None:
        # A multiple nack covers the tags not yet confirmed up to ``tag``; those already acked
        # stay acked (RabbitMQ coalesces nacks under load: ack 1, ack 2, nack 5 multiple).
        tags = range(self.acked_upto + 1, tag + 1) if multiple else (tag,)
        self.nacked.update(t for t in tags if t not in self.acked)

    def is_acked(self, tag: int) -> bool:
        return tag not in self.nacked and (tag <= self.acked_upto or tag in self.acked)

    def settled(self, tags: range) -> bool:
        return all(self.is_acked(t) or t in self.nacked for t in tags)

    def confirmed_prefix(self, tags: range) -> int:
        """How many of ``tags``, from the first, the broker acked."""
        count = 0
        for tag in tags:
            if not self.is_acked(tag):
                break
            count += 1
        return count


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
        self._confirms = _Confirms()

    @property
    def _pipelines(self) -> bool:
        """Only py-amqp with publisher confirms can have many publishes awaiting confirms; the
        in-memory transport stores each message as it is published."""
        options = self.connection.transport_options or {}
        return bool(options.get("confirm_publish")) and self.connection.transport_cls in {
            "amqp",
            "pyamqp",
        }

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
            self._confirms = _Confirms()
            if self._pipelines:
                # Confirm mode from the start (py-amqp would select it at the first publish),
                # and every ack and nack counted, whichever way the message was published.
                channel.confirm_select()
                channel._confirm_selected = True
                channel.events["basic_ack"].add(self._confirms.on_ack)
                channel.events["basic_nack"].add(self._confirms.on_nack)
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
            self._confirms.published += 1
        except Exception as exc:
            self.reset()
            raise PublishError(f"{type(exc).__name__}: {exc}") from exc

    def publish_many(self, messages: Sequence[Outgoing]) -> tuple[int, PublishError | None]:
        """Publish every message without waiting, then wait once for the broker's confirms:
        one round trip for a batch instead of one each. Returns how many of the messages, from
        the first, the broker confirmed, and why the next one is not known to be stored (a
        nack, no confirm within the timeout, a broken connection), or None."""
        if not self._pipelines:
            for count, m in enumerate(messages):
                try:
                    self.publish(m.body, routing_key=m.routing_key, message_id=m.message_id)
                except PublishError as exc:
                    return count, exc
            return len(messages), None
        tags = range(0)
        try:
            channel = self._ensure_producer().channel
            first = self._confirms.published + 1
            tags = range(first, first + len(messages))
            for m in messages:
                properties = {"delivery_mode": 2, "message_id": m.message_id}
                message = channel.prepare_message(
                    m.body.encode("utf-8"),
                    content_type="application/json",
                    content_encoding="utf-8",
                    headers={},
                    properties=properties,
                )
                # py-amqp's plain publish: its basic_publish would wait for each confirm.
                channel._basic_publish(message, exchange=self.exchange, routing_key=m.routing_key)
                self._confirms.published += 1
            deadline = time.monotonic() + self.confirm_timeout
            while not self._confirms.settled(tags):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                with contextlib.suppress(socket.timeout, TimeoutError):
                    self.connection.drain_events(timeout=remaining)
        except Exception as exc:
            confirmed = self._confirms.confirmed_prefix(tags)
            self.reset()
            return confirmed, PublishError(f"{type(exc).__name__}: {exc}")
        confirmed = self._confirms.confirmed_prefix(tags)
        if confirmed == len(messages):
            return confirmed, None
        nacked = tags[confirmed] in self._confirms.nacked
        # A channel with a silent or refused publish is not trusted with the next batch.
        self.reset()
        why = "nacked by the broker" if nacked else f"no confirm within {self.confirm_timeout}s"
        return confirmed, PublishError(why)

    def heartbeat_check(self) -> None:
        if self._producer is not None:
            try:
                self.connection.heartbeat_check()
            except Exception:
                self.reset()

    def reset(self) -> None:
        """Drop the connection so that the next publish reconnects from scratch."""
        self._producer = None
        self._confirms = _Confirms()
        # A broken connection may fail to close; it is gone either way.
        with contextlib.suppress(Exception):
            self.connection.collect()

    def close(self) -> None:
        self._producer = None
        self.connection.release()
