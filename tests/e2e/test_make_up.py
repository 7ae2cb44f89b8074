"""``make up``'s launcher end to end: six processes, the gateway in front, a service
that dies comes back while the others keep running, a clean Ctrl-C.

It runs ``python -m deploy.local.up`` (what ``make up`` runs once installed) with its
own GOVIT_HOME and port, so it never touches a developer's running suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy.local.stack import SERVICES, free_port
from shared.settings import REPO_ROOT
from tests.e2e.processes import long_lived, processes_with_home, uvicorn_of


@pytest.fixture
def suite(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    home = REPO_ROOT / ".govit" / f"e2e-{os.getpid()}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")} | {
        "GOVIT_HOME": str(home),
        "GOVIT_PORT": str(port),
    }
    log = (tmp_path / "up.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.local.up"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc, f"http://127.0.0.1:{port}", home
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for pid in processes_with_home(home):  # only what this test started
            os.kill(pid, signal.SIGKILL)
        subprocess.run(["rm", "-rf", str(home)], check=False)


def wait_for(url: str, seconds: float, proc: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + seconds
    last: Exception | None = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, "make up exited early"
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds} s: {last}")


def test_make_up_serves_every_service_restarts_a_dead_one_and_ctrl_c_stops_all(
    suite: tuple[subprocess.Popen[bytes], str, Path], tmp_path: Path
) -> None:
    proc, gateway, home = suite
    wait_for(f"{gateway}/healthz", 120, proc)
    for service in SERVICES:
        health = wait_for(f"{gateway}/healthz/{service}", 60, proc)
        assert health.json() == {"status": "ok"}, service
    ready = wait_for(f"{gateway}/readyz", 60, proc)
    assert ready.status_code == 200

    started = processes_with_home(home)
    # five services, the gateway, NATS and PostgreSQL's postmaster at least
    assert len(started) >= 8

    # One service dies (kill -9): it is started again, and nothing else moves.
    [registry] = uvicorn_of(home, "registry")
    others = {pid: cmd for pid, cmd in long_lived(home).items() if pid != registry}
    os.kill(registry, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while uvicorn_of(home, "registry") in ([], [registry]):
        assert time.monotonic() < deadline, "registry was not started again"
        assert proc.poll() is None, "make up stopped when one service died"
        time.sleep(0.2)
    for service in SERVICES:
        assert wait_for(f"{gateway}/healthz/{service}", 60, proc).json() == {"status": "ok"}
    assert wait_for(f"{gateway}/readyz", 60, proc).status_code == 200
    after = long_lived(home)
    assert {pid: after.get(pid) for pid in others} == others
    log = (tmp_path / "up.log").read_text(errors="replace")
    assert "keep_running: registry exited with signal SIGKILL" in log
    assert "restart attempt 1 in 1.0 s" in log

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0 or proc.returncode in (0, -signal.SIGINT, 130)
    deadline = time.monotonic() + 15
    while processes_with_home(home) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_with_home(home) == []


def test_closing_the_terminal_stops_everything_too(
    suite: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    proc, gateway, home = suite
    wait_for(f"{gateway}/readyz", 120, proc)

    os.killpg(proc.pid, signal.SIGHUP)  # what a closed terminal sends its foreground job
    proc.wait(timeout=60)
    deadline = time.monotonic() + 15
    while processes_with_home(home) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_with_home(home) == []
