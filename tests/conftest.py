"""The session's fixtures, and a stop that cleans up.

A run ended with SIGTERM (a CI job's timeout, ``timeout``, ``kill``) is treated as
Ctrl-C: pytest then tears its fixtures down, so the PostgreSQL and NATS it started
are stopped instead of left running with their data folders.
"""

from __future__ import annotations

import signal

import pytest

pytest_plugins = ["tests.support.fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    signal.signal(signal.SIGTERM, signal.default_int_handler)
