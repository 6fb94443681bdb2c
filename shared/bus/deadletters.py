"""Ops tools for a service's dead-letter queue: look at what failed, and replay it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kombu import Connection

from shared.bus.consumer import ATTEMPT, ERROR, FAILED_AT, ORIGINAL_KEY
from shared.bus.publisher import Publisher, body_text
from shared.bus.topology import Topology


@dataclass(frozen=True)
class DeadLetter:
    event_id: str
    event_type: str
    attempts: int
    error: str
    failed_at: str

    @classmethod
    def from_message(cls, body: bytes, headers: dict[str, Any]) -> DeadLetter:
        try:
            data = json.loads(body)
            event_id, event_type = str(data.get("id", "?")), str(data.get("type", "?"))
        except (ValueError, AttributeError):
            event_id, event_type = "?", str(headers.get(ORIGINAL_KEY, "?"))
        failed = headers.get(FAILED_AT)
        return cls(
            event_id=event_id,
            event_type=event_type,
            attempts=int(headers.get(ATTEMPT, 0) or 0),
            error=str(headers.get(ERROR) or _x_death_reason(headers)),
            failed_at=datetime.fromtimestamp(float(failed), UTC).isoformat() if failed else "",
        )


def _x_death_reason(headers: dict[str, Any]) -> str:
    deaths = headers.get("x-death") or []
    return f"broker: {deaths[0].get('reason')}" if deaths else ""


def list_dead_letters(
    connection: Connection, topology: Topology, limit: int = 100
) -> list[DeadLetter]:
    """Peek without removing: messages are fetched unacked and returned when the channel closes."""
    found: list[DeadLetter] = []
    with connection.channel() as channel:
        topology.declare(channel)
        queue = topology.dead_queue()(channel)
        for _ in range(limit):
            message = queue.get(no_ack=False, accept=None)
            if message is None:
                break
            found.append(DeadLetter.from_message(message.body, dict(message.headers or {})))
    return found


def replay_dead_letters(
    connection: Connection, topology: Topology, publisher: Publisher, limit: int | None = None
) -> list[DeadLetter]:
    """Move the dead letters there are now back onto the service's own queue (never the shared
    exchange, which would deliver them to other services too) with a fresh attempt count.

    A snapshot, not a drain: it moves at most as many messages as the queue held when it
    started, so a message that fails again while the replay runs is dead-lettered behind the
    snapshot and waits for the next replay instead of going round for ever."""
    replayed: list[DeadLetter] = []
    with connection.channel() as channel:
        topology.declare(channel)
        _, waiting, _ = channel.queue_declare(queue=topology.dead_queue_name, passive=True)
        budget = waiting if limit is None else min(limit, waiting)
        queue = topology.dead_queue()(channel)
        while len(replayed) < budget:
            message = queue.get(no_ack=False, accept=None)
            if message is None:
                break
            original = dict(message.headers or {})
            headers = {
                k: v for k, v in original.items() if k not in (ATTEMPT, ERROR, FAILED_AT, "x-death")
            }
            headers["x-rapport-replayed"] = True
            publisher.publish(
                body_text(message.body),
                exchange="",
                routing_key=topology.queue_name,
                message_id=str(message.properties.get("message_id") or ""),
                headers=headers,
            )
            message.ack()
            replayed.append(DeadLetter.from_message(message.body, original))
    return replayed
