"""``deploy.local.keep_running``: a dead child is restarted with backoff and logged; a
stop signal reaches the child and ends the supervisor, leaving nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deploy.local.keep_running import backoff
from shared.settings import REPO_ROOT

# Each start appends its pid to the file; the first ``quick`` starts exit with 3 at
# once, the next one lives ``ttl`` seconds and exits with 4, any later one sleeps.
CHILD = """
import os, sys, time
pids, quick, ttl = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
with open(pids, "a") as f:
    f.write(f"{os.getpid()}\\n")
starts = len(open(pids).read().split())
if starts <= quick:
    sys.exit(3)
time.sleep(ttl if starts == quick + 1 else 600)
sys.exit(4)
"""


def started(pids: Path) -> list[int]:
    return [int(pid) for pid in pids.read_text().split()] if pids.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return status != "Z"


def eventually(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*, quick: int = 0, ttl: float = 600, **options: float) -> subprocess.Popen[bytes]:
        flags = [f"--{name.replace('_', '-')}={value}" for name, value in options.items()]
        child = [sys.executable, "-c", CHILD, str(tmp_path / "pids"), str(quick), str(ttl)]
        supervisor = [sys.executable, "-m", "deploy.local.keep_running", "--name", "demo"]
        proc = subprocess.Popen(
            [*supervisor, *flags, "--", *child],
            cwd=REPO_ROOT,
            stderr=(tmp_path / "log").open("wb"),
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pid in started(tmp_path / "pids"):
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n, 1, 30) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_killed_child_is_restarted_and_sigterm_stops_both(
    supervise: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    proc = supervise(first_delay=0.1)
    pids = tmp_path / "pids"
    eventually(lambda: len(started(pids)) == 1)
    first = started(pids)[0]

    os.kill(first, signal.SIGKILL)
    eventually(lambda: len(started(pids)) == 2)
    second = started(pids)[1]
    assert proc.poll() is None and alive(second) and not alive(first)

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM  # the child's status, passed on
    assert not alive(second)
    assert len(started(pids)) == 2  # stopping is never followed by a restart
    log = (tmp_path / "log").read_text()
    assert "demo exited with signal SIGKILL" in log
    assert "restart attempt 1 in 0.1 s" in log
    assert f"demo restarted (pid {second})" in log


def test_quick_deaths_back_off_and_a_long_run_starts_the_count_over(
    supervise: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    # three quick exits, then one that outlives --stable-after, then one that stays
    proc = supervise(quick=3, ttl=3, first_delay=0.1, max_delay=0.2, stable_after=2)
    pids = tmp_path / "pids"
    eventually(lambda: len(started(pids)) == 5)

    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert not any(alive(pid) for pid in started(pids))
    attempts = [
        line.split("restart attempt ")[1]
        for line in (tmp_path / "log").read_text().splitlines()
        if "restart attempt" in line
    ]
    assert attempts == ["1 in 0.1 s", "2 in 0.2 s", "3 in 0.2 s", "1 in 0.1 s"]
    log = (tmp_path / "log").read_text()
    assert log.count("exited with status 3") == 3
    assert "exited with status 4" in log
