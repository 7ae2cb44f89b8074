"""A test run stopped with SIGTERM (a CI job's timeout, ``timeout``, ``kill``) stops
the PostgreSQL and NATS it started, as Ctrl-C does (``tests/conftest.py``)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from shared.settings import REPO_ROOT

# Takes the session's servers, says where they live, and waits to be stopped.
PROBE = """
import os, time
from pathlib import Path

def test_waits_for_a_stop(stack):
    Path(os.environ["PROBE_READY"]).write_text(str(stack.root))
    time.sleep(600)
"""


def descendants(pid: int) -> set[int]:
    """Every process started under ``pid``: the servers the run started (PostgreSQL is
    started through ``setpriv`` as ``nobody`` when root runs it, so not by name)."""
    table = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True, check=True)
    parent = {int(p): int(pp) for p, pp in (line.split() for line in table.stdout.splitlines())}
    found: set[int] = set()
    for child in parent:
        ancestor = parent.get(child)
        while ancestor is not None and ancestor > 1:
            if ancestor == pid:
                found.add(child)
                break
            ancestor = parent.get(ancestor)
    return found


def running(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.add(pid)
    return alive


def test_a_run_stopped_with_sigterm_stops_the_servers_it_started(tmp_path: Path) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE)
    ready = tmp_path / "ready"
    env = {**os.environ, "PROBE_READY": str(ready)}
    env.pop("DATABASE_URL", None)
    env.pop("NATS_URL", None)
    plugins = ["-p", "tests.conftest", "-p", "no:randomly", "-p", "no:cacheprovider"]
    config = ["-c", str(REPO_ROOT / "pyproject.toml")]
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", *plugins, *config, str(tmp_path)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready.exists(), run.communicate(timeout=30)[0].decode()[-2000:]
        root = ready.read_text()
        servers = descendants(run.pid)
        assert len(servers) >= 2, "PostgreSQL and NATS were running"
        run.send_signal(signal.SIGTERM)
        output = run.communicate(timeout=60)[0].decode()
    finally:
        if run.poll() is None:
            run.kill()
    left, removed = running(servers), not Path(root).exists()
    for pid in left:  # a failing run must not leave them to the next one
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(root, ignore_errors=True)
    assert "KeyboardInterrupt" in output, output[-2000:]
    assert left == set(), f"left running: {sorted(left)}"
    assert removed, "the run's folder is removed"
