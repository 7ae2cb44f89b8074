"""The real suite for the e2e tests, started as ``make up`` starts it.

``python -m deploy.local.up`` runs with its own GOVIT_HOME (``.govit/e2e-suite-<pid>``)
and gateway port: PostgreSQL, NATS, the five services and the gateway as separate
processes. The tests talk to the gateway only, with development tokens signed by
the key that run made (as ``make token`` does). Faults are done to the processes
themselves: a service SIGKILLed (``keep_running`` starts it again), NATS stopped and
started again from its own command line. PostgreSQL is read directly only to check
every outbox row at the end.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deploy.local.stack import SERVICES, database_name, free_port, with_database
from shared.auth import ensure_dev_keys, mint_token
from shared.settings import REPO_ROOT, GovitSettings
from tests.e2e.processes import command_line, nats_of, processes_with_home, uvicorn_of

NIL = "00000000-0000-0000-0000-000000000000"
STARTUP_SECONDS = 180


@dataclass
class Suite:
    home: Path
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    nats_restarted: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")}
        env |= {"GOVIT_HOME": str(self.home), "GOVIT_PORT": str(self.port)}
        # filing's missed-deadline scheduler looks every second, not every minute
        env |= {"GOVIT_DEADLINE_CHECK_SECONDS": "1"}
        self.home.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.local.up"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready(STARTUP_SECONDS)

    def wait_ready(self, seconds: float) -> None:
        """Until the gateway's /readyz and every service's health answer 200."""
        deadline = time.monotonic() + seconds
        pending = ["/readyz", *(f"/healthz/{s}" for s in SERVICES)]
        last = ""
        while pending and time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            try:
                response = httpx.get(self.url + pending[0], timeout=2)
                if response.status_code == 200:
                    pending.pop(0)
                    continue
                last = f"{pending[0]}: {response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{pending[0]}: {exc!r}"
            time.sleep(0.25)
        assert not pending, f"the suite was not ready within {seconds} s: {last}\n{self.tail()}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for pid in processes_with_home(self.home):  # only what this run started
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["rm", "-rf", str(self.home)], check=False)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # --- tokens -----------------------------------------------------------------------

    def token(
        self, role: str, jurisdiction: str, org: str = NIL, sub: str | None = None
    ) -> dict[str, str]:
        """An ``Authorization`` header with a development JWT (what ``make token`` prints)."""
        settings = GovitSettings(home=self.home)
        keys = ensure_dev_keys(settings.dev_keys_dir)
        jwt = mint_token(
            keys.private_key,
            keys.kid,
            sub=sub or f"e2e-{role}-{uuid.uuid4().hex[:6]}",
            org=org,
            jurisdiction=jurisdiction,
            roles=[role],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        return {"Authorization": f"Bearer {jwt}"}

    # --- what runs --------------------------------------------------------------------

    def database_url(self, service: str) -> str:
        found = re.search(r"^postgres\s+(\S+)", self.log_path.read_text(errors="replace"), re.M)
        assert found, "make up did not print its PostgreSQL URL"
        return with_database(found.group(1), database_name(service))

    def kill_service(self, service: str) -> int:
        [pid] = uvicorn_of(self.home, service)
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_service_back(self, service: str, old_pid: int, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while uvicorn_of(self.home, service) in ([], [old_pid]):
            assert time.monotonic() < deadline, f"{service} was not started again"
            time.sleep(0.2)
        self.wait_ready(seconds)

    def stop_nats(self) -> list[str]:
        """Stop NATS (SIGTERM, as an operator would); return its command line."""
        [pid] = nats_of(self.home)
        cmd = command_line(pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while nats_of(self.home):
            assert time.monotonic() < deadline, "NATS did not stop"
            time.sleep(0.1)
        return cmd

    def start_nats(self, cmd: list[str]) -> None:
        """NATS again, same configuration and store (its GOVIT_HOME marks it ours)."""
        log = (self.home / "nats.log").open("ab")
        env = {**os.environ, "GOVIT_HOME": str(self.home)}
        self.nats_restarted.append(
            subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        )


def new_suite(tmp_path: Path) -> Suite:
    home = REPO_ROOT / ".govit" / f"e2e-suite-{os.getpid()}"
    return Suite(home=home, port=free_port(), log_path=tmp_path / "up.log")
