"""The one place where concrete adapters are built for a service."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from flask import Flask

from shared.bus.topology import Topology
from shared.clock import Clock, SystemClock
from shared.config import SERVICES, Settings, load_settings
from shared.db import Database
from shared.handlers import Emitter
from shared.service import Runtime, ServiceDefinition
from shared.web import create_service_app


def definition(name: str) -> ServiceDefinition:
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; expected one of {', '.join(SERVICES)}")
    return importlib.import_module(f"services.{name}.service").SERVICE


def bootstrap(
    name: str,
    *,
    settings: Settings | None = None,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> Runtime:
    service = definition(name)
    settings = settings or load_settings(name, env)
    clock = clock or SystemClock()
    return Runtime(
        service=service,
        settings=settings,
        db=Database(settings.database_url),
        clock=clock,
        emitter=Emitter(service.tables, name, clock),
        topologies=topologies(settings),
    )


def topologies(settings: Settings) -> tuple[Topology, ...]:
    """The queues and bindings of every service, from their handler tables."""
    return tuple(
        Topology(
            service=name,
            bindings=tuple(sorted(definition(name).handlers)),
            exchange_name=settings.exchange,
            queue_type=settings.queue_type,
            retry_delays=settings.retry_delays,
        )
        for name in SERVICES
    )


def create_app(name: str) -> Flask:
    """Application factory for gunicorn: ``services.bootstrap:create_app('scheduler')``."""
    return create_service_app(bootstrap(name))
