"""The ``rapport`` command: run, migrate and operate the services."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import uuid
from collections.abc import Sequence

from shared.clock import ClockError, pin_test_now
from shared.config import SERVICES
from shared.logging import configure_logging


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rapport", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run everything in one process (embedded default)")
    dev.add_argument("--host", default=os.environ.get("RAPPORT_HOST", "127.0.0.1"))
    dev.add_argument("--port", type=int, default=int(os.environ.get("RAPPORT_PORT", "8000")))
    dev.add_argument("--no-demo", action="store_true", help="do not load demo data")

    web = commands.add_parser("web", help="serve one service's HTTP API with gunicorn")
    web.add_argument("service", choices=SERVICES)
    web.add_argument("--bind", default=os.environ.get("RAPPORT_BIND", "0.0.0.0:8000"))
    web.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))

    worker = commands.add_parser("worker", help="run one service's consumer, relay and loops")
    worker.add_argument("service", choices=SERVICES)
    worker.add_argument(
        "--metrics-port", type=int, default=int(os.environ.get("RAPPORT_METRICS_PORT", "0"))
    )

    migrate = commands.add_parser("migrate", help="bring a service's database up to date")
    migrate.add_argument("service", choices=(*SERVICES, "all"))

    seed = commands.add_parser(
        "seed-demo", help="load the demo practice into every service's database"
    )
    seed.add_argument(
        "--week", action="store_true", help="also book this week's demo sessions (once)"
    )

    user = commands.add_parser("create-user", help="add a staff user to the scheduler")
    user.add_argument("--email", required=True)
    user.add_argument("--name", required=True)
    user.add_argument("--role", choices=("front_desk", "practitioner", "admin"), required=True)

    dlq = commands.add_parser("dlq", help="inspect or replay a service's dead-letter queue")
    dlq.add_argument("action", choices=("list", "replay"))
    dlq.add_argument("service", choices=SERVICES)
    dlq.add_argument("--limit", type=int, default=None)

    outbox = commands.add_parser("outbox", help="show a service's unpublished events")
    outbox.add_argument("service", choices=SERVICES)

    args = parser.parse_args(argv)
    try:
        # Every process this one starts (gunicorn workers, the embedded default's threads)
        # inherits the pinned instant, so they all read one clock.
        pin_test_now(os.environ)
    except ClockError as exc:
        parser.error(str(exc))
    name = getattr(args, "service", None) or "rapport"
    # The embedded default is a person's console: readable lines, warnings and worse, unless
    # asked otherwise. Everything else (and production) logs JSON lines for machines.
    console = args.command == "dev" and os.environ.get("RAPPORT_PRODUCTION", "") != "1"
    configure_logging(
        name if name != "all" else "rapport",
        os.environ.get("RAPPORT_LOG_LEVEL", "WARNING" if console else "INFO"),
        os.environ.get("RAPPORT_LOG_FORMAT", "text" if console else "json"),
    )
    return int(COMMANDS[args.command](args) or 0)


def _dev(args: argparse.Namespace) -> int:
    from services.embedded import PortInUse, serve

    try:
        return serve(args.host, args.port, seed=not args.no_demo)
    except PortInUse as exc:
        print(f"rapport dev: {exc}", file=sys.stderr)
        return 2


def _web(args: argparse.Namespace) -> int:
    from services.webserver import serve

    return serve(args.service, args.bind, args.workers)


def _worker(args: argparse.Namespace) -> int:
    from services.bootstrap import bootstrap
    from shared.worker import Worker

    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port)
    return Worker(bootstrap(args.service)).run_forever()


def _migrate(args: argparse.Namespace) -> int:
    from services.bootstrap import bootstrap
    from shared import migrations

    for name in SERVICES if args.service == "all" else (args.service,):
        migrations.upgrade(bootstrap(name))
        print(f"{name}: database is up to date")
    return 0


def _seed_demo(args: argparse.Namespace) -> int:
    from services.bootstrap import bootstrap

    for name in SERVICES:
        rt = bootstrap(name)
        if rt.service.seed_demo is not None:
            loaded = rt.service.seed_demo(rt)
            print(f"{name}: {'demo data loaded' if loaded else 'demo data already present'}")
        if name == "scheduler" and args.week:
            from services.scheduler.demo_week import seed_week

            print(f"scheduler: {seed_week(rt)} demo sessions booked this week")
    return 0


def _create_user(args: argparse.Namespace) -> int:
    from werkzeug.security import generate_password_hash

    from services.bootstrap import bootstrap
    from services.scheduler.tables import StaffUser
    from services.scheduler.validation import normalise_email

    password = os.environ.get("RAPPORT_NEW_USER_PASSWORD") or getpass.getpass("Password: ")
    if len(password) < 12:
        print("error: use a password of at least 12 characters", file=sys.stderr)
        return 2
    rt = bootstrap("scheduler")
    with rt.db.transaction() as session:
        session.add(
            StaffUser(
                id=str(uuid.uuid4()),
                email=normalise_email(args.email).lower(),
                name=args.name,
                role=args.role,
                password_hash=generate_password_hash(password),
            )
        )
    print(f"created {args.role} {args.email}")
    return 0


def _dlq(args: argparse.Namespace) -> int:
    from services.bootstrap import bootstrap
    from shared.bus.connection import connect
    from shared.bus.deadletters import list_dead_letters, replay_dead_letters
    from shared.bus.publisher import Publisher
    from shared.worker import topology_for

    rt = bootstrap(args.service)
    topology = topology_for(rt)
    with connect(rt.settings) as connection:
        if args.action == "list":
            for letter in list_dead_letters(connection, topology, args.limit or 100):
                print(json.dumps(letter.__dict__))
            return 0
        publisher = Publisher(
            connect(rt.settings), rt.settings.exchange, rt.settings.confirm_timeout
        )
        try:
            moved = replay_dead_letters(connection, topology, publisher, args.limit)
        finally:
            publisher.close()
    for letter in moved:
        print(json.dumps({"replayed": letter.event_id, "type": letter.event_type}))
    print(f"{args.service}: replayed {len(moved)} dead-lettered event(s) onto queue {args.service}")
    return 0


def _outbox(args: argparse.Namespace) -> int:
    from services.bootstrap import bootstrap

    rt = bootstrap(args.service)
    with rt.db.sessions() as session:
        count, oldest = rt.service.tables.backlog(session)
    print(
        json.dumps(
            {
                "service": args.service,
                "unpublished": count,
                "oldest": oldest.isoformat() if oldest else None,
            }
        )
    )
    return 0


COMMANDS = {
    "dev": _dev,
    "web": _web,
    "worker": _worker,
    "migrate": _migrate,
    "seed-demo": _seed_demo,
    "create-user": _create_user,
    "dlq": _dlq,
    "outbox": _outbox,
}

if __name__ == "__main__":
    sys.exit(main())
