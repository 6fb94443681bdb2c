"""Suite-wide: one clock for the tests and every process they start."""

from __future__ import annotations

import os

import pytest

from shared.clock import pin_test_now


def pytest_configure(config: pytest.Config) -> None:
    # RAPPORT_TEST_NOW places the whole run at an instant; pinning its real-time anchor here,
    # before xdist starts its workers, gives every worker and every service process they start
    # one shared timeline.
    pin_test_now(os.environ)
