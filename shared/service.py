"""What a service is to the shared machinery, and the runtime built for it at start-up."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData

from shared.bus.topology import Topology
from shared.clock import Clock
from shared.config import Settings
from shared.db import Database
from shared.handlers import Emitter, Handler
from shared.outbox import EventTables

if TYPE_CHECKING:
    from flask import Blueprint

Loop = Callable[[threading.Event], None]


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    metadata: MetaData
    tables: EventTables
    handlers: Mapping[str, Sequence[Handler]]
    blueprints: Callable[[], Sequence[Blueprint]]
    migrations: Path
    loops: Callable[[Runtime], Sequence[Loop]] = lambda runtime: ()
    seed_demo: Callable[[Runtime], Any] | None = None


@dataclass
class Runtime:
    """Concrete adapters for one service, built in one place (services/bootstrap.py)."""

    service: ServiceDefinition
    settings: Settings
    db: Database
    clock: Clock
    emitter: Emitter
    # Every service's queues and bindings: a relay declares them all before it publishes, so
    # that no event is published before the queue of a service that wants it exists.
    topologies: Sequence[Topology] = ()
    outbox_listeners: list[Callable[[], None]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.service.name

    def outbox_written(self) -> None:
        """Called after a request commits events, so an in-process relay publishes at once."""
        for listener in self.outbox_listeners:
            listener()
