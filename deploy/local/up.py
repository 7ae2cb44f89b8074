"""``make up``: the whole suite on one machine, stopped cleanly by Ctrl-C.

PostgreSQL and NATS start first (from the wheels, data under ``.govit/``) unless
``DATABASE_URL`` / ``NATS_URL`` name external servers; then one database per
service, every service's migrations, and the five services plus the gateway as
separate processes under honcho, each wrapped in ``keep_running`` so a service that
dies is restarted (with backoff, logged) instead of honcho stopping everything.
Ctrl-C stops honcho's processes first, then NATS, then PostgreSQL; so do SIGTERM and
SIGHUP (a closed terminal), which would otherwise end this process alone and leave
the others, each in its own session, running.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
from pathlib import Path
from types import FrameType

from honcho.manager import Manager
from honcho.printer import Printer

from deploy.local.stack import (
    SERVICES,
    Nats,
    Postgres,
    database_name,
    ensure_databases,
    free_port,
    port_is_free,
    with_database,
)
from shared.auth import ensure_dev_keys
from shared.db.migrate import upgrade
from shared.settings import GovitSettings

PG_PORT, NATS_PORT, NATS_MONITOR_PORT = 54329, 42229, 48229


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through main's ``finally``, as Ctrl-C does


def _hang_up(_signum: int, _frame: FrameType | None) -> None:
    # Handled as SIGTERM: ours before honcho starts, honcho's "stop all" after. The
    # honcho workers forked from here inherit this and ignore the SIGTERM it sends.
    os.kill(os.getpid(), signal.SIGTERM)


def _port(preferred: int) -> int:
    return preferred if port_is_free(preferred) else free_port()


def _kept_running(name: str, command: str) -> str:
    return f"{shlex.quote(sys.executable)} -m deploy.local.keep_running --name {name} -- {command}"


def _uvicorn(target: str, port: int) -> str:
    # The gateway's HTTP protocol answers what uvicorn refuses in problem+json (gateway/server.py).
    http = " --http gateway.server:GatewayHttpProtocol" if target.startswith("gateway.") else ""
    return (
        f"{sys.executable} -m uvicorn --factory {target} --host 127.0.0.1 --port {port}"
        " --no-access-log --timeout-graceful-shutdown 5 --no-server-header" + http
    )


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _hang_up)
    try:
        return _up()
    except KeyboardInterrupt:
        return 130


def _up() -> int:
    settings = GovitSettings()
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    ensure_dev_keys(settings.dev_keys_dir)
    gateway_port = int(os.environ.get("GOVIT_PORT", "8000"))
    if not port_is_free(gateway_port):
        print(
            f"port {gateway_port} is taken: is govit already up? Set GOVIT_PORT.", file=sys.stderr
        )
        return 1

    pg = nats = None
    try:
        server_url = os.environ.get("DATABASE_URL")
        if not server_url:
            pg = Postgres(home / "pgdata", _port(PG_PORT))
            if (pg.data_dir / "postmaster.pid").exists() and not port_is_free(PG_PORT):
                print("PostgreSQL of another `make up` is running; stop it first.", file=sys.stderr)
                return 1
            pg.start(home / "postgres.log")
            server_url = pg.admin_url
            print(f"postgres  {server_url}  (log: {home / 'postgres.log'})")
        nats_url = os.environ.get("NATS_URL")
        if not nats_url:
            nats = Nats(home / "nats", _port(NATS_PORT), _port(NATS_MONITOR_PORT))
            nats.start(home / "nats.log")
            nats_url = nats.url
            print(f"nats      {nats_url}  (log: {home / 'nats.log'})")

        database_urls = {s: with_database(server_url, database_name(s)) for s in SERVICES}
        ensure_databases(server_url, [database_name(s) for s in SERVICES])
        for service, url in database_urls.items():
            upgrade(service, url)
            print(f"migrated  {service}")
        return _run_processes(home, gateway_port, nats_url, database_urls)
    finally:
        if nats:
            nats.stop()
        if pg:
            pg.stop()
        print("stopped")


def _run_processes(home: Path, gateway_port: int, nats_url: str, dbs: dict[str, str]) -> int:
    base_env = {**os.environ, "GOVIT_NATS_URL": nats_url, "GOVIT_HOME": str(home)}
    manager = Manager(Printer(sys.stdout))
    upstreams = {}
    for service in SERVICES:
        port = free_port()
        upstreams[f"GOVIT_{service.upper()}_URL"] = f"http://127.0.0.1:{port}"
        manager.add_process(
            service,
            _kept_running(service, _uvicorn(f"services.{service}.app:build_app", port)),
            env={**base_env, "GOVIT_DATABASE_URL": dbs[service]},
        )
    metrics_port = _port(9464)  # the gateway's /metrics, off its public port
    manager.add_process(
        "gateway",
        _kept_running("gateway", _uvicorn("gateway.app:build_app", gateway_port)),
        env={**base_env, **upstreams, "GOVIT_METRICS_PORT": str(metrics_port)},
    )
    print(f"metrics   http://127.0.0.1:{metrics_port}/metrics  (the gateway's)")
    print(f"gateway   http://127.0.0.1:{gateway_port}  (Ctrl-C stops everything)")
    manager.loop()
    return int(manager.returncode or 0)


if __name__ == "__main__":
    sys.exit(main())
