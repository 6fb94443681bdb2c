#!/usr/bin/env python3
"""Before `make run` installs anything: is the port `rapport dev` will listen on free?

Runs with the system Python alone (nothing installed yet)."""

from __future__ import annotations

import os
import socket
import sys


def main() -> int:
    host = os.environ.get("RAPPORT_HOST", "127.0.0.1")
    port = int(os.environ.get("RAPPORT_PORT", "8000"))
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            print(
                f"Port {port} on {host} is already in use. Stop what is using it, or run Rapport "
                f"on another port: RAPPORT_PORT={port + 1} make run",
                file=sys.stderr,
            )
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
