"""Broker connections: heartbeats on, connect and confirm timeouts everywhere."""

from __future__ import annotations

from kombu import Connection

from shared.config import Settings


def connect(settings: Settings) -> Connection:
    """A lazy kombu connection; publishers on it wait for broker confirms."""
    options: dict[str, object] = {"confirm_publish": True}
    heartbeat = settings.heartbeat
    if settings.is_memory_broker:
        options = {"polling_interval": 0.02}
        heartbeat = 0
    return Connection(
        settings.broker_url,
        heartbeat=heartbeat,
        connect_timeout=settings.connect_timeout,
        transport_options=options,
    )


def broker_reachable(settings: Settings, timeout: float = 2.0) -> bool:
    if settings.is_memory_broker:
        return True
    connection = Connection(settings.broker_url, connect_timeout=timeout)
    try:
        connection.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:
        return False
    finally:
        connection.release()
