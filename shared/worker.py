"""A service's worker process: the event consumer, the outbox relay and the service's own loops,
each in a thread; if any of them dies the worker stops, so that its supervisor restarts it."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from shared.bus.connection import connect
from shared.bus.consumer import EventConsumer
from shared.bus.memory import MemoryRetryPump
from shared.bus.monitor import QueueMonitor
from shared.bus.publisher import Publisher
from shared.bus.topology import Topology
from shared.handlers import Dispatcher
from shared.relay import Relay
from shared.service import Runtime

log = logging.getLogger(__name__)


def topology_for(rt: Runtime) -> Topology:
    return next((t for t in rt.topologies if t.service == rt.name), None) or Topology(
        service=rt.name,
        bindings=tuple(sorted(rt.service.handlers)),
        exchange_name=rt.settings.exchange,
        queue_type=rt.settings.queue_type,
        retry_delays=rt.settings.retry_delays,
    )


class Worker:
    def __init__(self, rt: Runtime, *, consume: bool = True, relay: bool = True) -> None:
        self.rt = rt
        settings = rt.settings
        self.stop_event = threading.Event()
        self.failed = threading.Event()
        self.topology = topology_for(rt)
        self.dispatcher = Dispatcher(
            rt.name, rt.db, rt.service.tables, rt.service.handlers, rt.clock
        )
        self.consumer: EventConsumer | None = None
        self.relay: Relay | None = None
        self._threads: list[threading.Thread] = []
        self._loops: list[tuple[str, Callable[[threading.Event], None]]] = []
        if consume:
            self.consumer = EventConsumer(
                connect(settings),
                self.topology,
                self.dispatcher.dispatch,
                self._publisher(),
                max_attempts=settings.max_attempts,
                prefetch_count=settings.prefetch_count,
                dispatch_batch=self.dispatcher.dispatch_batch,
                batch_size=settings.consume_batch,
            )
            self._loops.append(("consumer", self._run_consumer))
            if settings.is_memory_broker:
                pump = MemoryRetryPump(connect(settings), self.topology, self._publisher())
                self._loops.append(("retry-pump", pump.run))
            else:
                monitor = QueueMonitor(connect(settings), self.topology)
                self._loops.append(("queue-monitor", monitor.run))
        if relay:
            publisher = self._publisher(on_connect=self._declare_all)
            self.relay = Relay(
                rt.name,
                rt.db,
                rt.service.tables,
                publisher,
                rt.clock,
                batch_size=settings.relay_batch_size,
                interval=settings.relay_interval,
                listen=settings.relay_listen,
                safety_interval=settings.relay_safety_interval,
            )
            rt.outbox_listeners.append(self.relay.wakeup.set)
            self._loops.append(("relay", self.relay.run))
        for index, loop in enumerate(rt.service.loops(rt)):
            self._loops.append((f"loop-{index}", loop))

    def _publisher(self, on_connect: Callable[[Any], None] | None = None) -> Publisher:
        return Publisher(
            connect(self.rt.settings),
            self.rt.settings.exchange,
            self.rt.settings.confirm_timeout,
            on_connect=on_connect,
        )

    def _declare_all(self, channel: Any) -> None:
        for topology in self.rt.topologies or (self.topology,):
            topology.declare(channel)

    def _run_consumer(self, stop: threading.Event) -> None:
        assert self.consumer is not None
        self.consumer.run()

    def start(self) -> None:
        for name, loop in self._loops:
            thread = threading.Thread(
                target=self._guard, args=(name, loop), name=f"{self.rt.name}-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _guard(self, name: str, loop: Callable[[threading.Event], None]) -> None:
        try:
            loop(self.stop_event)
        except Exception:
            log.exception("worker loop crashed", extra={"loop": name})
            self.failed.set()
        finally:
            if not self.stop_event.is_set():
                self.failed.set()
                self.stop()

    def stop(self) -> None:
        self.stop_event.set()
        if self.consumer is not None:
            self.consumer.should_stop = True
        if self.relay is not None:
            self.relay.wakeup.set()  # not to sit out its wait

    def join(self, timeout: float = 10.0) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def run_forever(self) -> int:
        """Run until SIGTERM/SIGINT; the exit status says whether a loop crashed."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop())
        self.start()
        log.info(
            "worker started",
            extra={"queue": self.topology.queue_name, "bindings": list(self.topology.bindings)},
        )
        while not self.stop_event.wait(0.5):
            pass
        self.join()
        return 1 if self.failed.is_set() else 0
