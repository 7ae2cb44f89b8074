"""The servers a benchmark starts: PostgreSQL and NATS in a folder of their own, uvicorn
on 127.0.0.1, each waited for and stopped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from deploy.local.stack import Nats, Postgres, free_port
from shared.settings import DEFAULT_HOME

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Servers:
    """PostgreSQL and NATS (the project's wheels) on free ports, in ``root`` under ``.govit/``."""

    root: Path
    pg: Postgres
    nats: Nats

    @classmethod
    def start(cls, prefix: str) -> Self:
        """Both running in a new folder named ``prefix…``; nothing left behind if one fails."""
        DEFAULT_HOME.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            DEFAULT_HOME.chmod(0o755)  # PostgreSQL runs as ``nobody``: it must reach its folder
        root = Path(tempfile.mkdtemp(prefix=prefix, dir=DEFAULT_HOME))
        servers = cls(
            root, Postgres(root / "pg", free_port()), Nats(root / "nats", free_port(), free_port())
        )
        try:
            servers.pg.start(root / "postgres.log")
            servers.nats.start(root / "nats.log")
        except BaseException:
            servers.stop()
            raise
        return servers

    def stop(self) -> None:
        """Both stopped and their folder removed."""
        self.nats.stop()
        self.pg.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def uvicorn(
    target: str,
    port: int,
    env: dict[str, str],
    options: tuple[str, ...] = (),
    cwd: Path = REPO_ROOT,
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        *options,
    ]
    # The checkout in `cwd` comes first on sys.path (python -m), so its packages win.
    return subprocess.Popen(command, cwd=cwd, env=env)


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: exited with status {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (127.0.0.1)
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} was not ready within {seconds:.0f} s")


def serve(
    procs: list[subprocess.Popen[bytes]], target: str, env: dict[str, str], seconds: float = 60
) -> str:
    """uvicorn serving ``target`` on a free port, added to ``procs`` once its
    ``/healthz`` answers; its base URL."""
    port = free_port()
    procs.append(uvicorn(target, port, env))
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/healthz", procs[-1], seconds)
    return url


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
