"""What the hardware does at each job Rapport does, measured in the same run: a PostgreSQL
insert transaction, a publish with confirm (kombu and pika; one at a time and pipelined), a
minimal Flask + gunicorn + PostgreSQL endpoint, and the fake Twilio on its own."""

from __future__ import annotations

import time
import uuid

import amqp
import pika
import psycopg
import requests
from kombu import Connection

from bench.load import Outcome, closed_loop

QUEUE = "bench.floor"
BODY = b'{"type": "appointment.booked", "payload": "' + b"x" * 600 + b'"}'


def postgres_transactions(dsn: str, count: int) -> float:
    """Transactions/s: one INSERT and COMMIT at a time on one connection."""
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_floor (id uuid PRIMARY KEY, body text)")
        conn.commit()
        began = time.perf_counter()
        for _ in range(count):
            conn.execute("INSERT INTO bench_floor VALUES (%s, %s)", (uuid.uuid4(), BODY.decode()))
            conn.commit()
        return count / (time.perf_counter() - began)


def _declare(broker_url: str) -> None:
    with Connection(broker_url) as conn:
        channel = conn.default_channel
        channel.queue_declare(
            QUEUE, durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"}
        )
        channel.queue_purge(QUEUE)


def kombu_publish(broker_url: str, count: int, pipelined: bool) -> float:
    """Messages/s into a quorum queue, persistent, each confirmed by the broker."""
    _declare(broker_url)
    options = {} if pipelined else {"confirm_publish": True}
    with Connection(broker_url, transport_options=options) as conn:
        channel = conn.default_channel
        began = time.perf_counter()
        if not pipelined:
            producer = conn.Producer(channel)
            for _ in range(count):
                producer.publish(BODY, routing_key=QUEUE, delivery_mode=2, timeout=10)
        else:
            # py-amqp underneath kombu: confirm mode, publish without waiting, collect the acks.
            acked = [0]
            channel.confirm_select()
            channel.events["basic_ack"].add(lambda tag, multiple: _count(acked, tag, multiple))
            for _ in range(count):
                channel.basic_publish(amqp.Message(BODY, delivery_mode=2), routing_key=QUEUE)
            while acked[0] < count:
                conn.drain_events(timeout=10)
        rate = count / (time.perf_counter() - began)
        channel.queue_purge(QUEUE)
        return rate


def _count(acked: list[int], tag: int, multiple: bool) -> None:
    acked[0] = tag if multiple else max(acked[0], tag)


def pika_publish(broker_url: str, count: int, pipelined: bool) -> float:
    _declare(broker_url)
    params = pika.URLParameters(broker_url)
    properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    if not pipelined:
        conn = pika.BlockingConnection(params)
        channel = conn.channel()
        channel.confirm_delivery()
        began = time.perf_counter()
        for _ in range(count):
            channel.basic_publish("", QUEUE, BODY, properties)
        rate = count / (time.perf_counter() - began)
        conn.close()
        return rate
    return _pika_pipelined(params, properties, count)


def _pika_pipelined(
    params: pika.URLParameters, properties: pika.BasicProperties, count: int
) -> float:
    """pika's asynchronous connection: every publish outstanding, acks counted as they come."""
    state = {"acked": 0, "began": 0.0, "ended": 0.0}
    opened: list[pika.channel.Channel] = []  # the channel, once the connection opens it

    def on_ack(frame: pika.frame.Method) -> None:
        method = frame.method
        state["acked"] = (
            method.delivery_tag if method.multiple else max(state["acked"], method.delivery_tag)
        )
        if state["acked"] >= count:
            state["ended"] = time.perf_counter()
            conn.close()

    def on_confirm_ok(_frame: object) -> None:
        state["began"] = time.perf_counter()
        for _ in range(count):
            opened[0].basic_publish("", QUEUE, BODY, properties)

    def on_channel(ch: pika.channel.Channel) -> None:
        opened.append(ch)
        ch.confirm_delivery(on_ack, callback=on_confirm_ok)

    conn = pika.SelectConnection(
        params,
        on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
        on_close_callback=lambda c, reason: c.ioloop.stop(),
    )
    conn.ioloop.call_later(60, conn.close)
    conn.ioloop.start()
    if not state["ended"]:
        raise RuntimeError("pika pipelined publish did not finish")
    return count / (state["ended"] - state["began"])


def minimal_flask(base_url: str, count: int, clients: int) -> Outcome:
    def insert(session: requests.Session, _index: int) -> bool:
        return session.post(f"{base_url}/insert", data=BODY, timeout=10).status_code == 201

    return closed_loop(insert, count, clients)


def fake_twilio(base_url: str, account_sid: str, token: str, count: int, clients: int) -> Outcome:
    url = f"{base_url}/2010-04-01/Accounts/{account_sid}/Messages.json"
    form = {"To": "+16175550123", "From": "+16175550199", "Body": "Reminder: tomorrow 10:00"}

    def send(session: requests.Session, _index: int) -> bool:
        answer = session.post(url, data=form, auth=(account_sid, token), timeout=10)
        return answer.status_code == 201

    return closed_loop(send, count, clients)


def relay_drain(database_url: str, broker_url: str, count: int) -> float:
    """Rapport's own relay (shared/relay.py) draining ``count`` outbox rows into a quorum queue:
    events/s, to set beside the publish floors above."""
    from shared.bus.connection import connect
    from shared.bus.publisher import Publisher
    from shared.clock import SystemClock
    from shared.config import load_settings
    from shared.db import Database, new_metadata
    from shared.envelope import new_envelope
    from shared.outbox import EventTables
    from shared.relay import Relay

    _declare(broker_url)
    settings = load_settings(
        "scheduler", {"RAPPORT_BROKER_URL": broker_url, "SCHEDULER_DATABASE_URL": database_url}
    )
    db, metadata, clock = Database(database_url), new_metadata(), SystemClock()
    tables = EventTables(metadata)
    metadata.create_all(db.engine)
    with db.transaction() as session:
        for n in range(count):
            envelope = new_envelope(
                "bench.drained", 1, {"n": n}, source="bench", occurred_at=clock.now()
            )
            tables.append(session, envelope)
    publisher = Publisher(connect(settings), "", settings.confirm_timeout)
    relay = Relay("scheduler", db, tables, publisher, clock, batch_size=settings.relay_batch_size)
    # The default exchange routes by queue name: every event goes to the floor's queue.
    tables_type = tables.outbox.c.type
    with db.transaction() as session:
        session.execute(tables.outbox.update().values({tables_type: QUEUE}))
    began, published = time.perf_counter(), 0
    while published < count:
        done, failed = relay.publish_batch()
        if failed:
            raise RuntimeError("the relay could not publish to the floor's queue")
        published += done
    rate = count / (time.perf_counter() - began)
    publisher.close()
    db.dispose()
    with Connection(broker_url) as conn:
        conn.default_channel.queue_purge(QUEUE)
    return rate
