"""Event-to-gate lag: from ``govit.filing.acceptance.filed`` committed in an upstream
outbox to the operations gate open in funding's projection (issue 20).

    .venv/bin/python bench/funding_lag.py [--samples 100] [--load-rate 1000]

Starts its own PostgreSQL and NATS (the project's wheels) under ``.govit/``, and the
funding service as a uvicorn subprocess on a free 127.0.0.1 port, with its real
consumers and relay. This process plays the producers: an outbox database of their
shape with the real outbox relay (``shared.events.relay``), which publishes to
JetStream, from where funding's durable consumers take the events.

Each sample commits one ``acceptance.filed`` (passed) for a jincheng project whose
other facts hold, and waits for funding's transaction that opens the gate: it writes
``govit.funding.gate.opened`` to funding's outbox, whose ``pg_notify`` is heard on
commit (a LISTEN on funding's database). The lag is commit-to-commit, measured on
one clock. Two phases: idle, and under ``--load-rate`` events/s of other traffic
(``govit.registry.system.updated`` of systems no project has, which funding's
systems consumer must still take), each sample bounded, the phase bounded in time.
Goal (issue 20): p99 under 50 ms idle, bounded under load. The figures are from
two shared cores: they compare, they do not promise a capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script, bench/ is sys.path[0]
    sys.path.append(str(REPO_ROOT))

import asyncpg  # noqa: E402
from sqlalchemy import MetaData  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from bench import processes  # noqa: E402
from deploy.local.stack import ensure_databases, free_port, with_database  # noqa: E402
from shared.auth import ensure_dev_keys  # noqa: E402
from shared.db.migrate import upgrade  # noqa: E402
from shared.db.session import Database, asyncpg_dsn  # noqa: E402
from shared.events import event_tables  # noqa: E402
from shared.events.bus import Bus  # noqa: E402
from shared.events.envelope import Event, new_event  # noqa: E402
from shared.events.outbox import NOTIFY_CHANNEL, emit_many  # noqa: E402
from shared.events.relay import OutboxRelay  # noqa: E402
from shared.events.schemas import SCHEMA_DIR  # noqa: E402
from shared.ids import new_id  # noqa: E402

ISSUER = "https://id.govit.bench"
AUDIENCE = "govit"
JURISDICTION = "jincheng"
SAMPLE_TIMEOUT = 10.0  # seconds one sample may take before it counts as lost
SETUP_SECONDS = 120.0


def _event(type_: str, data: dict[str, Any], validate: bool = True) -> Event:
    # A field the producer's schema has come to require, taken from its example.
    schema = json.loads((SCHEMA_DIR / f"{type_}.json").read_text(encoding="utf-8"))
    example = schema["examples"][0]
    data = {**{k: example[k] for k in schema["required"] if k not in data}, **data}
    subject = str(data["id"])
    source = f"/govit/{type_.split('.')[1]}"
    return new_event(
        type_, source=source, data=data, time=datetime.now(UTC), subject=subject, validate=validate
    )


def _system(system_id: uuid.UUID, org: uuid.UUID, version: int = 1) -> dict[str, Any]:
    return {
        "id": str(system_id),
        "org": str(org),
        "jurisdiction": JURISDICTION,
        "name": "政务数据共享交换系统",
        "status": "operating",
        "network": "extranet",
        "cloud": "on_cloud",
        "cloud_exempt_reason": None,
        "private_network_approval": None,
        "sharing_connected": True,
        "mlps_level": 3,
        "crypto_assessed": True,
        "asset_registered": True,
        "resource_count": 1,
        "facts": {"catalogued": True, "data_shared": True, "on_cloud": True, "secure": True},
        "version": version,
    }


def _project(project_id: uuid.UUID, org: uuid.UUID, system_id: uuid.UUID) -> dict[str, Any]:
    return {
        "id": str(project_id),
        "org": str(org),
        "co_orgs": [],
        "jurisdiction": JURISDICTION,
        "profile": JURISDICTION,
        "profile_version": "2019-1",
        "name": "政务大数据平台",
        "number": "jincheng-2026-0001",
        "status": "approved",
        "delivery": "self_build",
        "kind": "new",
        "total_investment": "1000000.00",
        "annual_budgets": [{"year": 2026, "amount": "1000000.00"}],
        "approved_total": "1000000.00",
        "approved_annual_budgets": [{"year": 2026, "amount": "1000000.00"}],
        "system_ids": [str(system_id)],
        "planned_completion_on": "2026-12-31",
        "approved_on": "2026-03-02",
        "version": 1,
    }


def _acceptance(project_id: uuid.UUID, org: uuid.UUID) -> dict[str, Any]:
    return {
        "id": str(new_id()),
        "project_id": str(project_id),
        "org": str(org),
        "jurisdiction": JURISDICTION,
        "type": "acceptance",
        "event_date": "2026-06-01",
        "filed_on": "2026-06-05",
        "due_on": "2026-06-10",
        "on_time": True,
        "obligation_id": None,
        "passed": True,
        "trial_run_started_on": None,
        "catalogue_joined": True,
        "secure_controllable": True,
        "version": 1,
    }


class Bench:
    def __init__(self, upstream_url: str, funding_url: str, nats_url: str) -> None:
        self.upstream_url = upstream_url
        self.funding_url = funding_url
        self.nats_url = nats_url
        self.opened = asyncio.Event()
        self.on_nats: dict[str, float] = {}  # event id -> when NATS delivered it here

    async def run(self, samples: int, load_rate: int) -> dict[str, Any]:
        metadata = MetaData()
        tables = event_tables(metadata)
        engine = create_async_engine(self.upstream_url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        await engine.dispose()
        db = Database(self.upstream_url)
        bus = await Bus.connect(self.nats_url, name="bench-producers")
        relay = OutboxRelay(db, tables.outbox, bus)
        stop = asyncio.Event()
        relay_task = asyncio.create_task(relay.run(stop))
        listener = await asyncpg.connect(asyncpg_dsn(self.funding_url))
        await listener.add_listener(NOTIFY_CHANNEL, self._heard)
        # When the relay's publish reached NATS (a plain subscription beside funding's
        # consumer): splits each lag into the producer's relay and funding's own part.
        watch = await bus.nc.subscribe("govit.filing.acceptance.filed", cb=self._on_nats)
        try:
            projects = await self._prepare(db, tables.outbox, 2 * samples)
            idle = await self._phase(db, tables.outbox, projects[:samples])
            loader = Load(bus, load_rate)
            load_task = asyncio.create_task(loader.run())
            try:
                await asyncio.sleep(1.0)  # the load reaches its rate before sampling
                loaded = await self._phase(db, tables.outbox, projects[samples:])
            finally:
                loader.stop.set()
                await load_task
            return {"idle": idle, "load": loaded, "load_rate": loader.rate()}
        finally:
            await watch.unsubscribe()
            await listener.close()
            stop.set()
            await relay_task
            await bus.close()
            await db.dispose()

    async def _on_nats(self, msg: Any) -> None:
        self.on_nats[msg.headers.get("Nats-Msg-Id", "") if msg.headers else ""] = (
            time.perf_counter()
        )

    def _heard(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload == "govit.funding.gate.opened":
            self.opened.set()

    async def _prepare(
        self, db: Database, outbox: Any, count: int
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """``count`` approved jincheng projects with their system: everything but acceptance."""
        projects = []
        events = []
        for _ in range(count):
            project_id, org, system_id = new_id(), new_id(), new_id()
            projects.append((project_id, org))
            events += [
                _event("govit.registry.system.registered", _system(system_id, org)),
                _event("govit.approval.project.approved", _project(project_id, org, system_id)),
            ]
        for start in range(0, len(events), 200):
            async with db.transaction() as session:
                await emit_many(session, outbox, events[start : start + 200])
        # Setup, not a sample: wait until funding has decided every project's gates.
        conn = await asyncpg.connect(asyncpg_dsn(self.funding_url))
        try:
            deadline = time.monotonic() + SETUP_SECONDS
            while time.monotonic() < deadline:
                decided = await conn.fetchval(
                    "SELECT count(*) FROM gate_states WHERE category = 'operations'"
                )
                if decided >= count:
                    break
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError(f"funding decided {decided} of {count} projects' gates")
        finally:
            await conn.close()
        return projects

    async def _phase(
        self, db: Database, outbox: Any, projects: list[tuple[uuid.UUID, uuid.UUID]]
    ) -> list[tuple[float, float]]:
        """(commit to gate committed, commit to on NATS) per sample, in ms."""
        lags = []
        for project_id, org in projects:
            event = _event("govit.filing.acceptance.filed", _acceptance(project_id, org))
            self.opened.clear()
            async with db.transaction() as session:
                await emit_many(session, outbox, [event])
            committed = time.perf_counter()
            try:
                await asyncio.wait_for(self.opened.wait(), SAMPLE_TIMEOUT)
            except TimeoutError:
                lags.append((float("inf"), float("inf")))
                continue
            done = time.perf_counter()
            relayed = self.on_nats.get(event.id, done)
            lags.append(((done - committed) * 1000, (relayed - committed) * 1000))
        return lags


class Load:
    """``rate`` events/s of other traffic, published to JetStream's subjects without
    waiting for each acknowledgement (the stream stores them all the same), until stopped."""

    def __init__(self, bus: Bus, rate: int) -> None:
        self.bus = bus
        self.target = rate
        self.stop = asyncio.Event()
        self.sent = 0
        self.seconds = 0.0
        data = _system(new_id(), new_id()) | {"changed": []}
        self.envelope = _event("govit.registry.system.updated", data).envelope()

    def _wire(self) -> tuple[str, bytes]:
        event_id, system_id = str(new_id()), str(new_id())
        envelope = self.envelope | {"id": event_id, "subject": system_id}
        envelope["data"] = self.envelope["data"] | {"id": system_id}
        return event_id, json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()

    async def run(self) -> None:
        tick = 0.02
        per_tick = max(1, round(self.target * tick))
        started = time.perf_counter()
        next_at = started
        while not self.stop.is_set():
            for _ in range(per_tick):
                event_id, payload = self._wire()
                await self.bus.nc.publish(
                    "govit.registry.system.updated", payload, headers={"Nats-Msg-Id": event_id}
                )
            await self.bus.nc.flush()
            self.sent += per_tick
            next_at += tick
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        self.seconds = time.perf_counter() - started

    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100, help="gate openings per phase")
    parser.add_argument("--load-rate", type=int, default=1000, help="other events per second")
    args = parser.parse_args(argv)

    servers = processes.Servers.start("bench-funding-lag-")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        funding_url = with_database(servers.pg.admin_url, "govit_funding")
        upstream_url = with_database(servers.pg.admin_url, "govit_upstream")
        ensure_databases(servers.pg.admin_url, ["govit_funding", "govit_upstream"])
        upgrade("funding", funding_url)
        keys = ensure_dev_keys(servers.root / "keys")
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("GOVIT_")}
        env = {
            **base_env,
            "GOVIT_ENVIRONMENT": "test",
            "GOVIT_HOME": str(servers.root),
            "GOVIT_JWKS_FILE": str(keys.jwks_file),
            "GOVIT_JWT_ISSUER": ISSUER,
            "GOVIT_JWT_AUDIENCE": AUDIENCE,
            "GOVIT_LOG_LEVEL": "WARNING",
            "GOVIT_NATS_URL": servers.nats.url,
            "GOVIT_DATABASE_URL": funding_url,
        }
        port = free_port()
        procs.append(processes.uvicorn("services.funding.app:build_app", port, env))
        processes.wait_ready(f"http://127.0.0.1:{port}/readyz", procs[-1], 60)

        bench = Bench(upstream_url, funding_url, servers.nats.url)
        result = asyncio.run(bench.run(args.samples, args.load_rate))
    finally:
        processes.stop(procs)
        servers.stop()

    print(f"funding: event-to-gate lag, {args.samples} samples per phase (ms, commit to commit)")
    for phase, label in (("idle", "idle"), ("load", f"~{result['load_rate']:.0f} other events/s")):
        pairs = result[phase]
        lost = sum(1 for lag, _ in pairs if lag == float("inf"))
        kept = [lag for lag, _ in pairs if lag != float("inf")]
        relay = [r for lag, r in pairs if lag != float("inf")]
        print(
            f"  {label:<28} p50 {_percentile(kept, 0.5):7.1f}  p99 {_percentile(kept, 0.99):7.1f}"
            f"  max {max(kept, default=float('nan')):7.1f}"
            f"  mean {statistics.fmean(kept) if kept else float('nan'):7.1f}"
            f"  lost {lost}"
        )
        print(
            f"  {'':<28} of which commit to NATS (the producer's relay): p50"
            f" {_percentile(relay, 0.5):6.1f}  p99 {_percentile(relay, 0.99):6.1f}"
        )
    idle_p99 = _percentile([x for x, _ in result["idle"] if x != float("inf")], 0.99)
    print(f"  goal: p99 under 50 ms idle: {'met' if idle_p99 < 50 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
