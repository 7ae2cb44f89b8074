"""One real suite per test session for the e2e tests (``make up``'s launcher)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.suite import Suite, new_suite


@pytest.fixture(scope="session")
def running_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    suite = new_suite(tmp_path_factory.mktemp("e2e-suite"))
    try:
        suite.start()
        yield suite
    finally:
        suite.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The e2e steps' times, slowest first (the note reports the slowest)."""
    from tests.e2e.lifecycle import TIMINGS
    from tests.e2e.test_faults import FAULTS

    if FAULTS:
        terminalreporter.write_sep("-", "e2e fault run")
        for what, value in FAULTS.items():
            terminalreporter.write_line(f"{value!s:>7}  {what}")
    if TIMINGS:
        terminalreporter.write_sep("-", "e2e steps, slowest first")
        for name, seconds in sorted(TIMINGS.items(), key=lambda kv: -kv[1])[:8]:
            terminalreporter.write_line(f"{seconds:7.2f} s  {name}")
