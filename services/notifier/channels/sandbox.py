"""The embedded default's channel: messages are recorded in the notifier's database and shown
by GET /api/v1/sandbox instead of leaving the machine."""

from __future__ import annotations

from services.notifier.channels import InDoubt, OutboundMessage
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

    def look_up(self, doubt: InDoubt) -> str | None:
        """Sending commits the sandbox row, so it exists exactly when the send happened."""
        with self.db.sessions() as session:
            found = session.get(SandboxMessage, doubt.message_id) is not None
        return f"sandbox-{doubt.message_id}" if found else None
