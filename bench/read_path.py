"""The read path: a catalogue page through the gateway and straight to the registry.

    .venv/bin/python bench/read_path.py [--seconds 5] [--concurrency 32]

Starts its own PostgreSQL and NATS (the project's wheels) under ``.govit/``, the
registry and the gateway as uvicorn subprocesses on free 127.0.0.1 ports, seeds one
unit with 60 systems, then measures, in this one run:

1. one request at a time (latency p50): the gateway's own ``/healthz``, a page of
   50 systems and a page of 1 through the gateway, as ratios of that ``/healthz``
   (issue 17's goals: ≤ 3× and ≤ 2×); the same two pages straight to the registry,
   so the gateway's hop and the service's own time can be told apart;
2. ``--concurrency`` requests in flight (throughput): the registry's ``/healthz``
   and a page of 50 straight to the registry, the page as a share of ``/healthz``
   (goal: ≥ 15 %).

``--rounds N`` measures every target N times, interleaved, and reports medians: on
a machine shared with other work, the load moves between one target and the next.

It uses ``wrk`` when it is on the PATH (Debian/Ubuntu: ``apt-get install -y wrk``;
macOS: ``brew install wrk``) and otherwise a bounded aiohttp client in this process,
which is slower than the servers and so understates the throughput. The figures are
ratios of the same run on the same shared cores: they compare, they do not promise
a capacity. Traffic goes to 127.0.0.1 only, each phase is bounded in time, and every
process started here is stopped, and its folder removed, on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script, bench/ is sys.path[0]
    sys.path.append(str(REPO_ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import uvloop  # noqa: E402

from bench import processes  # noqa: E402
from deploy.local.stack import ensure_databases, with_database  # noqa: E402
from shared.auth import ensure_dev_keys, mint_token  # noqa: E402
from shared.db.migrate import upgrade  # noqa: E402

ISSUER = "https://id.govit.bench"
AUDIENCE = "govit"
JURISDICTION = "linfen-water"
SYSTEMS = 60


@dataclass
class Figure:
    rps: float
    p50_ms: float


# --- load generators --------------------------------------------------------------------

_LATENCY = re.compile(r"^\s*50(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, headers: dict[str, str], seconds: float, connections: int) -> Figure:
    threads = max(1, min(2, connections))
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    command += ["--timeout", "30s"]  # a saturated server is slow, not failing
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"{url}: error answers under load\n{out}")
    if "Socket errors" in out:
        print(f"{url}: {out[out.index('Socket errors') :].splitlines()[0]}", file=sys.stderr)
    latency, rps = _LATENCY.search(out), _RPS.search(out)
    if latency is None or rps is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return Figure(float(rps.group(1)), float(latency.group(1)) * _UNIT_MS[latency.group(2)])


def python_client(url: str, headers: dict[str, str], seconds: float, connections: int) -> Figure:
    async def run() -> Figure:
        latencies: list[float] = []
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
            stop_at = time.perf_counter() + seconds

            async def worker() -> None:
                while (began := time.perf_counter()) < stop_at:
                    async with session.get(url) as response:
                        await response.read()
                        if response.status != 200:
                            raise RuntimeError(f"{url}: {response.status}")
                    latencies.append(time.perf_counter() - began)

            await asyncio.gather(*(worker() for _ in range(connections)))
        return Figure(len(latencies) / seconds, statistics.median(latencies) * 1000)

    return asyncio.run(run())


def _median(figures: list[Figure]) -> Figure:
    return Figure(
        statistics.median(f.rps for f in figures), statistics.median(f.p50_ms for f in figures)
    )


# --- seeding ----------------------------------------------------------------------------


async def _seed(registry: str, admin: dict[str, str], unit_token: str | None) -> str:
    """One unit with ``SYSTEMS`` systems; returns the unit id."""
    async with aiohttp.ClientSession(headers=admin) as session:
        body = {"name": "临汾市水利局信息中心", "jurisdiction": JURISDICTION}
        async with session.post(f"{registry}/api/v1/units", json=body) as response:
            response.raise_for_status()
            unit: str = (await response.json())["id"]
        for n in range(SYSTEMS):
            system = {
                "name": f"水资源监测预警系统{n:02d}",
                "org": unit,
                "status": "operating",
                "network": "extranet",
                "cloud": "on_cloud",
                "sharing_connected": True,
                "mlps_level": 2,
                "crypto_assessed": True,
                "asset_registered": True,
            }
            async with session.post(f"{registry}/api/v1/systems", json=system) as response:
                if response.status != 201:
                    raise RuntimeError(f"seeding: {response.status} {await response.text()}")
    return unit


def _sql_round_trips(database_url: str, unit: str) -> dict[str, float]:
    """p50 ms of one page's SELECT (every column, as the page reads most of them) on a
    bare asyncpg connection in a uvloop loop, as the registry runs it: the database's
    share of a page, which no change to the service can take away."""
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    sql = "SELECT * FROM systems WHERE org_id = $1 ORDER BY id LIMIT $2"

    async def measure() -> dict[str, float]:
        connection = await asyncpg.connect(dsn)
        try:
            figures = {}
            for name, rows in (("page of 50", 51), ("page of 1", 2)):  # limit + 1
                samples = []
                for n in range(600):
                    began = time.perf_counter()
                    await connection.fetch(sql, uuid.UUID(unit), rows)
                    if n >= 100:  # the first runs prepare and warm the plan
                        samples.append(time.perf_counter() - began)
                figures[name] = statistics.median(samples) * 1000
            return figures
        finally:
            await connection.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(measure())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per target")
    parser.add_argument("--concurrency", type=int, default=32, help="connections for req/s")
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every target this many times, interleaved, and report the medians "
        "(a shared machine's load moves between targets; ratios of medians hold better)",
    )
    args = parser.parse_args(argv)
    use_wrk = shutil.which("wrk") is not None and not args.python_client
    load = wrk if use_wrk else python_client
    if not use_wrk:
        print(
            "wrk not found (apt-get install -y wrk): using a Python client, which caps "
            "the throughput figures",
            file=sys.stderr,
        )

    servers = processes.Servers.start("bench-read-path-")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        database_url = with_database(servers.pg.admin_url, "govit_registry")
        ensure_databases(servers.pg.admin_url, ["govit_registry"])
        upgrade("registry", database_url)
        keys = ensure_dev_keys(servers.root / "keys")

        def bearer(roles: list[str], org: str = "00000000-0000-0000-0000-000000000000") -> str:
            jwt = mint_token(
                keys.private_key,
                keys.kid,
                sub=f"bench-{roles[0]}",
                org=org,
                jurisdiction=JURISDICTION,
                roles=roles,
                issuer=ISSUER,
                audience=AUDIENCE,
                ttl_seconds=3600,
            )
            return f"Bearer {jwt}"

        base_env = {k: v for k, v in os.environ.items() if not k.startswith("GOVIT_")}
        common = {
            **base_env,
            "GOVIT_ENVIRONMENT": "test",
            "GOVIT_HOME": str(servers.root),
            "GOVIT_JWKS_FILE": str(keys.jwks_file),
            "GOVIT_JWT_ISSUER": ISSUER,
            "GOVIT_JWT_AUDIENCE": AUDIENCE,
            "GOVIT_LOG_LEVEL": "WARNING",
            "GOVIT_NATS_URL": servers.nats.url,
        }
        registry_env = {
            **common,
            "GOVIT_DATABASE_URL": database_url,
            "GOVIT_OUTBOX_RELAY_ENABLED": "false",
        }
        registry = processes.serve(procs, "services.registry.app:build_app", registry_env)
        gateway_env = {
            **common,
            "GOVIT_REGISTRY_URL": registry,
            "GOVIT_RATE_LIMIT_CLIENT": "100000000/minute",  # on, as in production
        }
        gateway = processes.serve(procs, "gateway.app:build_app", gateway_env)

        # The floor: the kit's app doing nothing (bench/floor_service.py), behind a
        # gateway of its own, so a page can be set against a routed call without work.
        floor = processes.serve(procs, "bench.floor_service:build_app", registry_env)
        floor_gateway_env = {**gateway_env, "GOVIT_REGISTRY_URL": floor}
        floor_gateway = processes.serve(procs, "gateway.app:build_app", floor_gateway_env)

        unit = asyncio.run(_seed(registry, {"Authorization": bearer(["admin"])}, None))
        sql = _sql_round_trips(database_url, unit)
        reader = {"Authorization": bearer(["unit"], org=unit)}
        page50 = f"/api/v1/systems?limit=50&org={unit}"
        page1 = f"/api/v1/systems?limit=1&org={unit}"
        for url in (gateway + page50, gateway + page1, registry + page50):
            load(url, reader, 1, 2)  # warm-up: pools, caches, the custom plan

        s, c = args.seconds, args.concurrency
        targets = {
            "gw_health": (f"{gateway}/healthz", {}, 1),
            "gw_page50": (gateway + page50, reader, 1),
            "gw_page1": (gateway + page1, reader, 1),
            # Where the time goes: the hop, or the service itself.
            "svc_page50_seq": (registry + page50, reader, 1),
            "svc_page1": (registry + page1, reader, 1),
            "svc_health_seq": (f"{registry}/healthz", {}, 1),
            "gw_floor": (f"{floor_gateway}/api/v1/systems", reader, 1),
            "svc_floor": (f"{floor}/api/v1/systems", reader, 1),
            "svc_health": (f"{registry}/healthz", {}, c),
            "svc_page50": (registry + page50, reader, c),
        }
        runs: dict[str, list[Figure]] = {name: [] for name in targets}
        for _ in range(max(1, args.rounds)):
            for name, (url, headers, connections) in targets.items():
                runs[name].append(load(url, headers, s, connections))
        median = {name: _median(figures) for name, figures in runs.items()}
        gw_health, gw_page50, gw_page1 = (
            median["gw_health"],
            median["gw_page50"],
            median["gw_page1"],
        )
        svc_page50_seq, svc_page1 = median["svc_page50_seq"], median["svc_page1"]
        svc_health_seq = median["svc_health_seq"]
        gw_floor, svc_floor = median["gw_floor"], median["svc_floor"]
        svc_health, svc_page50 = median["svc_health"], median["svc_page50"]
    finally:
        processes.stop(procs)
        servers.stop()

    tool = "wrk" if use_wrk else "Python client"
    rounds = f", median of {args.rounds} rounds" if args.rounds > 1 else ""
    print(f"read path ({tool}, {s:g} s per target{rounds})")
    print("one request at a time, through the gateway (p50):")
    print(f"  gateway /healthz        {gw_health.p50_ms:7.2f} ms")
    print(
        f"  page of 50              {gw_page50.p50_ms:7.2f} ms"
        f"  {gw_page50.p50_ms / gw_health.p50_ms:5.1f}x healthz (goal ≤ 3x)"
    )
    print(
        f"  page of 1               {gw_page1.p50_ms:7.2f} ms"
        f"  {gw_page1.p50_ms / gw_health.p50_ms:5.1f}x healthz (goal ≤ 2x)"
    )
    print(
        f"  (straight to the registry: page of 50 {svc_page50_seq.p50_ms:.2f} ms,"
        f" page of 1 {svc_page1.p50_ms:.2f} ms)"
    )
    # The floor under a routed read: a goal below it cannot be met by the read path.
    health = gw_health.p50_ms
    print("the floor under a routed read, same run (p50):")
    print(
        f"  a route doing nothing   {gw_floor.p50_ms:7.2f} ms  {gw_floor.p50_ms / health:5.1f}x"
        f" healthz (gateway -> bench/floor_service.py; straight {svc_floor.p50_ms:.2f} ms,"
        f" registry /healthz {svc_health_seq.p50_ms:.2f} ms)"
    )
    for name, page in (("page of 50", gw_page50), ("page of 1", gw_page1)):
        with_sql = gw_floor.p50_ms + sql[name]
        print(
            f"  {'+ ' + name + ' SQL':<22}  {with_sql:7.2f} ms  {with_sql / health:5.1f}x"
            f" healthz (its round trip on asyncpg, {sql[name]:.2f} ms); the page itself"
            f" {page.p50_ms - with_sql:+.2f} ms above"
        )
    print(f"{c} connections, straight to the registry (throughput):")
    print(f"  registry /healthz       {svc_health.rps:7.0f} req/s")
    print(
        f"  page of 50              {svc_page50.rps:7.0f} req/s"
        f"  {100 * svc_page50.rps / svc_health.rps:5.1f}% of healthz (goal ≥ 15%)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
