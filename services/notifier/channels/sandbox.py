"""The embedded default's channel: messages are recorded in the notifier's database and shown
by GET /api/v1/sandbox instead of leaving the machine."""

from __future__ import annotations

from services.notifier.channels import OutboundMessage
from services.notifier.tables import SandboxMessage
from shared.clock import Clock
from shared.db import Database


class Sandbox:
    name = "sandbox"

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def send(self, message: OutboundMessage) -> str:
        with self.db.transaction() as session:
            session.add(
                SandboxMessage(
                    id=message.message_id,
                    channel=message.channel,
                    recipient=message.to,
                    subject=message.subject,
                    body=message.text,
                    has_calendar=message.calendar is not None,
                    calendar=message.calendar.decode() if message.calendar else None,
                    created_at=self.clock.now(),
                )
            )
        return f"sandbox-{message.message_id}"
