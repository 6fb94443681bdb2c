"""Suite-wide: one clock for the tests and every process they start; template databases
dropped when a test process ends."""

from __future__ import annotations

import os

import pytest

from shared.clock import pin_test_now


def pytest_configure(config: pytest.Config) -> None:
    # RAPPORT_TEST_NOW places the whole run at an instant; pinning its real-time anchor here,
    # before xdist starts its workers, gives every worker and every service process they start
    # one shared timeline.
    pin_test_now(os.environ)


def pytest_unconfigure(config: pytest.Config) -> None:
    # xdist's workers leave without running exit handlers and may be cut short while they
    # leave: the controller (or a run without xdist) drops the template databases of test
    # processes that have ended, its own included, once they are gone.
    if hasattr(config, "workerinput"):
        return
    from tests.support import drop_templates

    drop_templates()
