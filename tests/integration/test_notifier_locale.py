"""The notifier's client projection keeps the locale from client.* events, on real PostgreSQL:
a client.updated that changes it (or the zone) changes what later messages say."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.notifier.dispatcher import ReminderDispatcher
from services.notifier.tables import ClientContact
from shared.contracts.registry_data import ClientUpdated
from tests.fakes.notifier import CLIENT, Notifier, appointment, new_id, notifier_on_postgres
from tests.fakes.smtp import Mailbox, SmtpServer
from tests.fakes.twilio import FakeTwilio, FakeTwilioServer

# Runs again at the fixed instants of `make test` (README: "Time in tests").
pytestmark = [pytest.mark.integration, pytest.mark.clock]
NEW_YORK = ZoneInfo("America/New_York")


def ny(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


@pytest.fixture
def world() -> Iterator[tuple[Notifier, FakeTwilio, Mailbox]]:
    twilio_server, smtp_server = FakeTwilioServer(), SmtpServer()
    env = twilio_server.env() | smtp_server.env() | {"NOTIFIER_SMS_PER_SECOND": "50"}
    with (
        twilio_server as twilio_fake,
        smtp_server as mailbox,
        notifier_on_postgres(ny(4, 6, 12), **env) as notifier,
    ):
        notifier.client()
        notifier.practitioner()
        yield notifier, twilio_fake, mailbox


def test_a_client_update_with_a_locale_changes_what_later_messages_say(
    world: tuple[Notifier, FakeTwilio, Mailbox],
) -> None:
    notifier, twilio, mailbox = world
    dispatcher = ReminderDispatcher(notifier.rt)
    [contact] = notifier.rows(ClientContact, ClientContact.client_id == CLIENT)
    assert contact.locale == "en_US"  # client.registered without a locale: the default

    a = new_id()
    notifier.deliver(appointment("book", a, 1, ny(4, 15, 15)))
    dispatcher.run_once(threading.Event())
    [first] = twilio.sent()
    assert "Wed, Apr 15 at 3:00 PM EDT with" in first["Body"]
    assert "there)" not in first["Body"]
    assert mailbox.received()[-1]["Subject"] == "Your appointment on Wednesday, April 15, 2026"

    notifier.deliver(
        ClientUpdated(
            client_id=CLIENT,
            revision=2,
            first_name="Jordan",
            last_name="Lee",
            email="jordan@example.com",
            phone="+16175550123",
            time_zone="America/Chicago",
            locale="es_US",
            sms_consent=True,
            email_consent=True,
        )
    )
    [contact] = notifier.rows(ClientContact, ClientContact.client_id == CLIENT)
    assert (contact.locale, contact.time_zone) == ("es_US", "America/Chicago")

    notifier.deliver(
        appointment("reschedule", a, 2, ny(4, 16, 16), previous_starts_at=ny(4, 15, 15))
    )
    dispatcher.run_once(threading.Event())
    mail = mailbox.received()[-1]  # the notice goes by email
    assert mail["Subject"] == "Your appointment has moved to jueves, 16 de abril de 2026"
    [plain] = [p for p in mail.walk() if p.get_content_type() == "text/plain"]
    text = plain.get_payload(decode=True).decode()
    # The client's date and clock in Spanish, the practice's clock (New York) in brackets;
    # the wording itself stays English (a practice edits the templates to translate it).
    assert (
        "Your appointment with Dr. Ana Rivera has moved to jueves, 16 de abril de 2026 "
        "at 3:00 p.m. CDT (4:00 p.m. at the practice)." in text
    )
