"""The fake Twilio and the SMTP sink from tests/fakes, in a process of their own so that they
do not share the load generator's interpreter; prints their environment as one JSON line."""

from __future__ import annotations

import json
import signal
import sys
import threading

from tests.fakes.smtp import SmtpServer
from tests.fakes.twilio import FakeTwilioServer


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    twilio, smtp = FakeTwilioServer(), SmtpServer()
    with twilio, smtp:
        print(json.dumps(twilio.env() | smtp.env()), flush=True)
        stop.wait()
    sys.exit(0)


if __name__ == "__main__":
    main()
