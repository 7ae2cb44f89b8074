"""Gateway overhead: GET throughput and latency straight to a service and through the gateway.

    .venv/bin/python bench/gateway.py [--seconds 8] [--concurrency 64] [--clients aiohttp,httpx]
                                      [--baseline DIR]

Starts, as uvicorn subprocesses on free 127.0.0.1 ports, a trivial FastAPI upstream
and one gateway per upstream client implementation (GOVIT_UPSTREAM_CLIENT), then
drives the same authenticated ``GET /api/v1/systems/{id}`` load at each from this
process (an aiohttp session, ``--concurrency`` requests in flight, ``--seconds``
per target split over ``--rounds`` interleaved rounds, after a warm-up) and prints
requests/s, p50 and p99 with the ratio to the direct run. It ends with the
rate-limit storage figures behind the choice in gateway/ratelimit.py. Gateways
run with the server options of ``python -m gateway`` (its HTTP protocol, no
Server header). ``--baseline DIR`` adds the gateway of another checkout (an
older commit, e.g. from ``git archive``), aiohttp client, as one more target of
the same run, so a change's cost shows as a ratio measured side by side. Everything
shares this machine's cores: the figures compare, they do not promise a capacity.
Traffic goes to 127.0.0.1 only, every phase is bounded in time, and the processes
started here are stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script, bench/ is sys.path[0]
    sys.path.append(str(REPO_ROOT))

import aiohttp  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from bench import processes  # noqa: E402
from deploy.local.stack import free_port  # noqa: E402
from shared.auth import ensure_dev_keys, mint_token  # noqa: E402

ISSUER = "https://id.govit.bench"
AUDIENCE = "govit"
SERVICES = ("registry", "approval", "filing", "funding", "evaluation")
PATH = "/api/v1/systems/0190c0de-0000-7000-8000-000000000001"


def upstream_app() -> FastAPI:
    """The trivial service: one small JSON answer (uvicorn ``--factory`` target)."""
    app = FastAPI()

    @app.get("/api/v1/systems/{system_id}")
    async def system(system_id: str) -> dict[str, Any]:
        return {"id": system_id, "name": "电子政务外网门户", "status": "operating"}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app


@dataclass
class Result:
    target: str
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float


# What `python -m gateway`, make up and the k8s manifest run the gateway with.
GATEWAY_OPTIONS = ("--http", "gateway.server:GatewayHttpProtocol", "--no-server-header")


@dataclass
class _Samples:
    latencies: list[float]
    errors: int = 0
    seconds: float = 0.0


async def _load(
    url: str, token: str, seconds: float, concurrency: int, warmup: float, into: _Samples
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        measure_from = time.perf_counter() + warmup
        stop_at = measure_from + seconds

        async def worker() -> None:
            while True:
                began = time.perf_counter()
                if began >= stop_at:
                    return
                try:
                    async with session.get(url, headers=headers) as response:
                        await response.read()
                        ok = response.status == 200
                except aiohttp.ClientError:
                    ok = False
                ended = time.perf_counter()
                if began >= measure_from:
                    if ok:
                        into.latencies.append(ended - began)
                    else:
                        into.errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    into.seconds += seconds


def _result(name: str, samples: _Samples) -> Result:
    if not samples.latencies:
        raise RuntimeError(f"{name}: no request succeeded ({samples.errors} errors)")
    quantiles = statistics.quantiles(samples.latencies, n=100, method="inclusive")
    return Result(
        target=name,
        requests=len(samples.latencies),
        errors=samples.errors,
        seconds=samples.seconds,
        rps=len(samples.latencies) / samples.seconds,
        p50_ms=quantiles[49] * 1000,
        p99_ms=quantiles[98] * 1000,
    )


def _limiter_figures(hits: int = 20_000) -> list[tuple[str, int, float]]:
    """Hits/s of the ``limits`` moving window in memory, sync storage against async,
    in a loop that yields to the event loop between hits as a server does."""
    from limits import parse
    from limits.aio.strategies import MovingWindowRateLimiter as AsyncWindow
    from limits.storage import storage_from_string
    from limits.strategies import MovingWindowRateLimiter as SyncWindow

    item = parse("100000000/minute")
    figures = []

    async def run(name: str, keys: int) -> None:
        if name == "sync memory":
            sync = SyncWindow(storage_from_string("memory://"))
        else:
            asynchronous = AsyncWindow(storage_from_string("async+memory://"))
        began = time.perf_counter()
        for i in range(hits):
            key = f"k{i % keys}"
            if name == "sync memory":
                sync.hit(item, key)
            else:
                await asynchronous.hit(item, key)
            await asyncio.sleep(0)
        figures.append((name, keys, hits / (time.perf_counter() - began)))

    async def all_runs() -> None:
        for keys in (1, 10_000):
            for name in ("sync memory", "async memory"):
                await run(name, keys)

    asyncio.run(all_runs())
    return figures


def _table(results: list[Result]) -> str:
    direct = results[0]
    lines = [
        f"{'target':<24}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'rps ratio':>11}",
    ]
    for r in results:
        ratio = r.rps / direct.rps
        lines.append(
            f"{r.target:<24}{r.rps:>10.0f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}"
            f"{r.errors:>8}{ratio:>11.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per target")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds per target")
    parser.add_argument(
        "--clients", default="aiohttp,httpx", help="gateway upstream clients to compare"
    )
    parser.add_argument(
        "--baseline", type=Path, help="also run the gateway of this checkout (aiohttp client)"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--no-limiter", action="store_true", help="skip the rate-limit storage figures"
    )
    args = parser.parse_args(argv)
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]

    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="govit-bench-") as tmp:
        keys = ensure_dev_keys(Path(tmp) / "keys")
        token = mint_token(
            keys.private_key,
            keys.kid,
            sub="bench",
            org="00000000-0000-0000-0000-000000000001",
            jurisdiction="jincheng",
            roles=["unit"],
            issuer=ISSUER,
            audience=AUDIENCE,
            ttl_seconds=3600,
        )
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("GOVIT_")}
        try:
            upstream_port = free_port()
            upstream = f"http://127.0.0.1:{upstream_port}"
            procs.append(processes.uvicorn("bench.gateway:upstream_app", upstream_port, base_env))
            processes.wait_ready(f"{upstream}/readyz", procs[-1], 30)
            targets = [("direct", upstream)]
            gateways: list[tuple[str, str, Path, tuple[str, ...]]] = [
                (f"gateway ({c})", c, REPO_ROOT, GATEWAY_OPTIONS) for c in clients
            ]
            if args.baseline:
                gateways.append(("baseline (aiohttp)", "aiohttp", args.baseline.resolve(), ()))
            for name, client, tree, options in gateways:
                port = free_port()
                env = {
                    **base_env,
                    **{f"GOVIT_{s.upper()}_URL": upstream for s in SERVICES},
                    "GOVIT_ENVIRONMENT": "test",
                    "GOVIT_HOME": tmp,
                    "GOVIT_JWKS_FILE": str(keys.jwks_file),
                    "GOVIT_JWT_ISSUER": ISSUER,
                    "GOVIT_JWT_AUDIENCE": AUDIENCE,
                    "GOVIT_LOG_LEVEL": "WARNING",
                    "GOVIT_UPSTREAM_CLIENT": client,
                    "GOVIT_RATE_LIMIT_CLIENT": "100000000/minute",  # on, as in production
                }
                procs.append(processes.uvicorn("gateway.app:build_app", port, env, options, tree))
                processes.wait_ready(f"http://127.0.0.1:{port}/healthz", procs[-1], 30)
                targets.append((name, f"http://127.0.0.1:{port}"))

            # Rounds interleave the targets, so a change in the machine's other load
            # falls on all of them alike rather than on whichever ran at that moment.
            samples = {name: _Samples([]) for name, _ in targets}
            for round_number in range(args.rounds):
                for name, base in targets:
                    share = args.seconds / args.rounds
                    warmup = args.warmup if round_number == 0 else min(args.warmup, 0.2)
                    asyncio.run(
                        _load(base + PATH, token, share, args.concurrency, warmup, samples[name])
                    )
                print(f"  round {round_number + 1}/{args.rounds} done", file=sys.stderr)
            results = [_result(name, samples[name]) for name, _ in targets]
        finally:
            processes.stop(procs)

    print(
        f"GET {PATH} with {args.concurrency} in flight, {args.seconds:g} s per target "
        f"in {args.rounds} interleaved rounds"
    )
    print(_table(results))
    limiter = [] if args.no_limiter else _limiter_figures()
    if limiter:
        print("\nrate-limit storage (limits, moving window), hits/s")
        for name, keys, rate in limiter:
            print(f"  {name:<14}{keys:>7} keys{rate:>10.0f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "gateway": [asdict(r) for r in results],
            "limiter": [{"storage": n, "keys": k, "hits_per_second": h} for n, k, h in limiter],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
