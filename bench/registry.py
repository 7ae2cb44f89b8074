"""Registry benchmark: import 100,000 systems over HTTP, then time filtered list pages.

    .venv/bin/python bench/registry.py [--rows 100000] [--repeat 25]

It starts its own PostgreSQL and NATS (from the project's wheels) under a temporary
folder in ``.govit/``, migrates the registry database, and drives the real app
(``build_app`` with its lifespan) through an in-process ``httpx.ASGITransport``:

1. registers 100 units (20 in each of the five jurisdictions) and imports the whole
   catalogue as ONE CSV file through ``POST /api/v1/systems:import`` (API.md: imports
   up to 20 MiB, "about 100,000 catalogue rows"), timing it;
2. times ``GET /api/v1/systems`` pages of 50 for each filter and for cursor pages
   deep into the set (median and p95 over ``--repeat`` interleaved rounds), and
   reports each as a ratio against a baseline measured in the same run: an
   unfiltered first page, which is a primary-key index scan;
3. runs each page's SQL as a pooled connection serves it (a prepared statement past
   PostgreSQL's five custom plans) under ``EXPLAIN (ANALYZE, BUFFERS)``: its
   execution time (also as a ratio) and its plan, to show which index answers it.

PostgreSQL runs with its default durability (fsync on), and ``ANALYZE`` runs after
the import, as autovacuum would shortly after a bulk load.
The outbox relay is off: the import still writes its 100,000 outbox rows (in the
same transaction, as always), but publishing them is not what is measured here.
Everything it started is stopped, and its folder removed, on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import Select  # noqa: E402
from sqlalchemy.dialects import postgresql  # noqa: E402
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg  # noqa: E402

from bench import processes  # noqa: E402
from deploy.local.stack import ensure_databases, with_database  # noqa: E402
from services.registry import repository  # noqa: E402
from services.registry.app import RegistrySettings, build_app  # noqa: E402
from services.registry.domain import SYSTEM_FIELDS  # noqa: E402
from services.registry.models import System  # noqa: E402
from services.registry.schemas import SystemFilters  # noqa: E402
from services.registry.spreadsheets import COLUMNS  # noqa: E402
from shared.auth import DevKeys, Principal, ensure_dev_keys, mint_token  # noqa: E402
from shared.db.migrate import upgrade  # noqa: E402
from shared.db.session import asyncpg_dsn  # noqa: E402

ISSUER = "https://id.govit.bench"
IMPORT_DATABASE = "govit_registry_import"  # the one-request import runs on its own data
AUDIENCE = "govit"
JURISDICTIONS = ("linfen-water", "xiangfen", "xinzhou-transport", "leshan", "jincheng")
UNITS_PER_JURISDICTION = 20
PAGE = 50
# Names: "<place><kind>系统<serial>"; q=水质监测 matches 1 kind in 20, the serial 1 row.
PLACES = ("市", "县", "区", "局", "站")
KINDS = (
    "水质监测",
    "防汛指挥",
    "办公自动化",
    "行政审批",
    "视频会议",
    "数据共享",
    "电子档案",
    "财务管理",
    "人事管理",
    "应急管理",
    "公文交换",
    "网站群",
    "政务服务",
    "执法监督",
    "交通运行",
    "水资源调度",
    "统计分析",
    "信用信息",
    "门户",
    "工程建设管理",
)


# --- the stack --------------------------------------------------------------------


class Stack(processes.Servers):
    @property
    def database_url(self) -> str:
        return with_database(self.pg.admin_url, "govit_registry")


def start_stack() -> Stack:
    stack = Stack.start("bench-registry-")
    try:
        ensure_databases(stack.pg.admin_url, ["govit_registry", IMPORT_DATABASE])
        upgrade("registry", stack.database_url)
        upgrade("registry", with_database(stack.pg.admin_url, IMPORT_DATABASE))
    except BaseException:
        stack.stop()
        raise
    return stack


@asynccontextmanager
async def registry_client(settings: RegistrySettings) -> AsyncIterator[httpx.AsyncClient]:
    """The registry app, its lifespan running, reached in process (600 s timeout)."""
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://registry", timeout=600
        ) as client:
            yield client


# --- the data -------------------------------------------------------------------------


def pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def catalogue_csv(units: dict[str, list[uuid.UUID]], rows: int, seed: int = 20221) -> bytes:
    """``rows`` systems spread evenly over every unit, with realistic skews per column."""
    rng = random.Random(seed)
    all_units = [(j, u) for j, us in units.items() for u in us]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = [c for c in COLUMNS if c != "id"]
    writer.writerow(header)
    for serial in range(rows):
        jurisdiction, unit = all_units[serial % len(all_units)]
        cloud = pick(rng, {"on_cloud": 55, "migrating": 20, "not_migrated": 20, "exempt": 5})
        network = pick(rng, {"extranet": 60, "intranet": 25, "internet": 13, "private": 2})
        if network == "private" and jurisdiction == "leshan":
            network = "extranet"  # leshan:8.2 has no consent route for private networks
        values: dict[str, Any] = {
            "org": unit,
            "name": f"{rng.choice(PLACES)}{KINDS[serial % len(KINDS)]}系统{serial:06d}",
            "status": pick(rng, {"operating": 60, "building": 15, "planned": 15, "retired": 10}),
            "network": network,
            "cloud": cloud,
            "cloud_exempt_reason": "涉密信息系统" if cloud == "exempt" else "",
            "private_network_approval": "主管部门同意函" if network == "private" else "",
            "sharing_connected": "是" if rng.random() < 0.7 else "否",
            "mlps_level": rng.choice(["", "1", "2", "2", "3", "3", "4"]),
            "crypto_assessed": "是" if rng.random() < 0.5 else "否",
            "asset_registered": "是" if rng.random() < 0.6 else "否",
        }
        writer.writerow([values[c] for c in header])
    return out.getvalue().encode("utf-8")


# --- measuring --------------------------------------------------------------------------


@dataclass
class Case:
    label: str
    headers: dict[str, str]
    principal: Principal
    filters: dict[str, Any]
    cursor: str | None = None


@dataclass
class Timing:
    case: Case
    samples: list[float]
    items: int
    sql_ms: float = 0.0
    served: list[str] | None = None
    custom: list[str] | None = None

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def time_pages(client: httpx.AsyncClient, cases: list[Case], repeat: int) -> list[Timing]:
    """``repeat`` rounds, each requesting every case once, after 3 warm-up rounds.

    Interleaving spreads any background noise over every case alike, and it mixes
    the values each prepared statement sees, as real traffic does.
    """
    timings = [Timing(case, [], 0) for case in cases]
    for round_ in range(repeat + 3):
        for timing in timings:
            case = timing.case
            params: dict[str, Any] = {**case.filters, "limit": PAGE}
            if case.cursor:
                params["cursor"] = case.cursor
            started = time.perf_counter()
            response = await client.get("/api/v1/systems", params=params, headers=case.headers)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"{case.label}: {response.status_code} {response.text[:300]}")
            timing.items = len(response.json()["items"])
            if round_ >= 3:
                timing.samples.append(elapsed)
    return timings


def page_query(case: Case) -> Select[Any]:
    """The query ``repository.system_page`` runs for this case."""
    query: Select[Any] = repository.filtered_systems(case.principal, SystemFilters(**case.filters))
    query = query.order_by(System.id).limit(PAGE + 1)
    if case.cursor:
        query = query.where(System.id > repository.decode_cursor(case.cursor))
    return query


def sql_literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


async def explain(conn: asyncpg.Connection, case: Case) -> tuple[list[str], list[str], float]:
    """(the plan for these very values, the plan a pooled connection serves).

    The service's driver (asyncpg) prepares each statement once per connection and
    runs it with parameters; after five runs PostgreSQL may switch that statement to
    a generic plan that no longer sees the values. Both are shown.
    """
    query = page_query(case)
    literal = str(
        query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    )
    custom = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {literal}")
    compiled = query.compile(dialect=pg_asyncpg.dialect())
    args = ", ".join(sql_literal(compiled.params[name]) for name in compiled.positiontup or [])
    execute = f"EXECUTE bench_page({args})" if args else "EXECUTE bench_page"
    await conn.execute(f"PREPARE bench_page AS {compiled}")
    if case.filters.get("q"):  # as repository.system_page does for a name search
        await conn.execute("SET plan_cache_mode = force_custom_plan")
    try:
        for _ in range(6):  # past the plan cache's five custom plans
            await conn.fetch(execute)
        runs = []
        for _ in range(5):
            served = [
                r[0] for r in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {execute}")
            ]
            runs.append(execution_ms(served))
    finally:
        await conn.execute("DEALLOCATE bench_page")
        await conn.execute("RESET plan_cache_mode")
    return [r[0] for r in custom], served, statistics.median(runs)


def execution_ms(plan: list[str]) -> float:
    return float(plan[-1].split("Execution Time:")[1].split("ms")[0])


async def generic_plan_demo(
    conn: asyncpg.Connection, common: Case, rare: Case
) -> tuple[list[str], list[str]]:
    """Why list_systems forces a custom plan for ``q``: the same prepared statement,
    run 10 times with a common word, then with a rare one (generic plan, then forced
    custom plan)."""
    first = page_query(common).compile(dialect=pg_asyncpg.dialect())
    second = page_query(rare).compile(dialect=pg_asyncpg.dialect())
    assert str(first) == str(second), "one statement, two sets of values"

    def execute(compiled: Any) -> str:
        names = compiled.positiontup or []
        return f"EXECUTE bench_demo({', '.join(sql_literal(compiled.params[n]) for n in names)})"

    await conn.execute(f"PREPARE bench_demo AS {first}")
    try:
        for _ in range(10):
            await conn.fetch(execute(first))
        explain = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
        generic = await conn.fetch(explain + execute(second))
        await conn.execute("SET plan_cache_mode = force_custom_plan")
        forced = await conn.fetch(explain + execute(second))
    finally:
        await conn.execute("RESET plan_cache_mode")
        await conn.execute("DEALLOCATE bench_demo")
    return [r[0] for r in generic], [r[0] for r in forced]


def plan_kind(plan: list[str]) -> str:
    text = "\n".join(plan)
    scans = []
    for line in plan:
        line = line.strip().removeprefix("->").strip()
        for kind in ("Index Only Scan", "Bitmap Index Scan", "Index Scan", "Seq Scan"):
            if line.startswith(kind):
                rest = line[len(kind) :].split("(")[0].replace(" using ", " ").replace(" on ", " ")
                index = rest.split()[0] if rest.split() else ""
                scans.append(f"{kind} {index}".strip() if kind != "Seq Scan" else "SEQ SCAN")
                break
    execution = text.rsplit("Execution Time:", 1)[-1].strip()
    return f"{' + '.join(scans) or '?'} [{execution}]"


# --- the run ------------------------------------------------------------------------------


async def run(stack: Stack, rows: int, repeat: int) -> None:
    keys: DevKeys = ensure_dev_keys(stack.root / "keys")
    settings = RegistrySettings(
        database_url=stack.database_url,
        nats_url=stack.nats.url,
        environment="test",
        home=stack.root,
        jwks_file=stack.root / "keys" / "jwks.json",
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        outbox_relay_enabled=False,
        log_level="WARNING",
    )

    def bearer(roles: list[str], jurisdiction: str, org: str | uuid.UUID = uuid.UUID(int=0)):
        principal = Principal(
            sub=f"bench-{roles[0]}", org=str(org), jurisdiction=jurisdiction, roles=frozenset(roles)
        )
        jwt = mint_token(
            keys.private_key,
            keys.kid,
            sub=principal.sub,
            org=principal.org,
            jurisdiction=jurisdiction,
            roles=roles,
            issuer=ISSUER,
            audience=AUDIENCE,
            ttl_seconds=3600,
        )
        return {"Authorization": f"Bearer {jwt}"}, principal

    import_settings = settings.model_copy(
        update={"database_url": with_database(stack.pg.admin_url, IMPORT_DATABASE)}
    )
    await import_benchmark(import_settings, bearer, rows)

    async with registry_client(settings) as client:
        # An admin registers and imports for its own jurisdiction only.
        admins = {j: bearer(["admin"], j)[0] for j in JURISDICTIONS}
        admin_h, admin_p = bearer(["admin"], "linfen-water")
        units: dict[str, list[uuid.UUID]] = {j: [] for j in JURISDICTIONS}
        for j in JURISDICTIONS:
            units[j] = await register_units(client, admins[j], j, UNITS_PER_JURISDICTION)

        started = time.perf_counter()
        data = catalogue_csv(units, rows)
        build_s = time.perf_counter() - started
        print(
            f"catalogue file: {rows:,} rows, {len(data) / 2**20:.1f} MiB (built in "
            f"{build_s:.1f} s); imported as one file per jurisdiction, by its admin"
        )
        started = time.perf_counter()
        for j, part in split_by_jurisdiction(data, units).items():
            response = await client.post(
                "/api/v1/systems:import",
                content=part,
                headers={**admins[j], "Content-Type": "text/csv"},
            )
            if response.status_code != 201:
                raise RuntimeError(f"import: {response.status_code} {response.text[:500]}")
        import_s = time.perf_counter() - started
        print(f"imported {rows:,} rows in {import_s:.1f} s ({rows / import_s:,.0f} rows/s)")

        conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
        try:
            counts = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM systems) AS systems,"
                " (SELECT count(*) FROM system_revisions) AS revisions,"
                " (SELECT count(*) FROM outbox) AS outbox"
            )
            print(f"stored: {dict(counts)}")
            await conn.execute("ANALYZE")  # what autovacuum does soon after a bulk load
            await measure(client, conn, units, bearer, admin_h, admin_p, repeat)
        finally:
            await conn.close()


# --- one import of the whole catalogue -------------------------------------------------


class RssSampler:
    """The process's resident memory, sampled every 20 ms on a thread: its peak."""

    def __init__(self) -> None:
        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def copy_records(data: bytes, now: datetime) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The file's rows as ``systems`` records, for the baseline: a plain COPY."""
    columns = ["id", "org_id", "jurisdiction", *SYSTEM_FIELDS, "resource_count"]
    columns += ["shared_resource_count", "version", "created_at", "updated_at"]
    records = []
    for cells in csv.DictReader(io.StringIO(data.decode("utf-8"))):
        values: dict[str, Any] = {f: cells.get(f) or None for f in SYSTEM_FIELDS}
        for flag in ("sharing_connected", "crypto_assessed", "asset_registered"):
            values[flag] = cells[flag] == "是"
        values["mlps_level"] = int(cells["mlps_level"]) if cells["mlps_level"] else None
        org = uuid.UUID(cells["org"])
        fixed = (0, 0, 1, now, now)  # resource counts, version, created/updated
        records.append((uuid.uuid4(), org, "linfen-water", *values.values(), *fixed))
    return columns, records


async def import_benchmark(
    settings: RegistrySettings, bearer: Callable[..., tuple[dict[str, str], Principal]], rows: int
) -> None:
    """``rows`` rows in ONE request (API.md's maximum), against a plain COPY of the same
    rows (the floor: storing them, nothing else), while a small GET runs alongside."""
    j = "linfen-water"
    async with registry_client(settings) as client:
        admin = bearer(["admin"], j)[0]
        units = await register_units(client, admin, j, 100)
        unit_h = bearer(["unit"], j, units[0])[0]
        probe = await client.post(
            "/api/v1/systems",
            json={
                "name": "探针系统",
                "org": str(units[0]),
                "status": "planned",
                "network": "extranet",
                "cloud": "on_cloud",
            },
            headers=unit_h,
        )
        probe.raise_for_status()
        probe_url = f"/api/v1/systems/{probe.json()['id']}"
        data = catalogue_csv({j: units}, rows)

        columns, records = copy_records(data, datetime.now(UTC))
        conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
        try:
            tx = conn.transaction()
            await tx.start()
            started = time.perf_counter()
            await conn.copy_records_to_table("systems", records=records, columns=columns)
            copy_s = time.perf_counter() - started
            await tx.rollback()
        finally:
            await conn.close()
        del records

        async def get_ms() -> float:
            started = time.perf_counter()
            (await client.get(probe_url, headers=unit_h)).raise_for_status()
            return (time.perf_counter() - started) * 1000

        idle = [await get_ms() for _ in range(30)]
        before_rss = RssSampler.now()
        with RssSampler() as rss:
            started = time.perf_counter()
            task = asyncio.create_task(
                client.post(
                    "/api/v1/systems:import",
                    content=data,
                    headers={**admin, "Content-Type": "text/csv"},
                )
            )
            busy = []
            while not task.done():
                busy.append(await get_ms())
                await asyncio.sleep(0.05)
            response = await task
            import_s = time.perf_counter() - started
        if response.status_code != 201:
            raise RuntimeError(f"import: {response.status_code} {response.text[:500]}")
    mib = 2**20
    print(
        f"\nONE import of {rows:,} rows ({len(data) / mib:.1f} MiB CSV, one request, one"
        f" transaction: systems + revisions + outbox rows): {import_s:.1f} s,"
        f" {rows / import_s:,.0f} rows/s; {response.json()}"
    )
    print(
        f"  baseline, a plain COPY of the same {rows:,} systems rows (no checks, revisions"
        f" or events): {copy_s:.2f} s, {rows / copy_s:,.0f} rows/s -> the import takes"
        f" {import_s / copy_s:.1f}x the bare storing"
    )
    print(
        f"  peak RSS of the process (app + bench) during the import: {rss.peak / mib:,.0f} MiB"
        f" ({(rss.peak - before_rss) / mib:+,.0f} MiB over the {before_rss / mib:,.0f} MiB"
        " before it)"
    )
    print(
        f"  GET /systems/{{id}} alongside: {len(busy)} answered during the import, median"
        f" {statistics.median(busy):.1f} ms, max {max(busy):.1f} ms, against"
        f" {statistics.median(idle):.1f} ms idle"
        f" ({statistics.median(busy) / statistics.median(idle):.1f}x)"
    )


async def register_units(
    client: httpx.AsyncClient, admin: dict[str, str], j: str, count: int
) -> list[uuid.UUID]:
    made = []
    for n in range(count):
        response = await client.post(
            "/api/v1/units", json={"name": f"{j} 单位{n:02d}", "jurisdiction": j}, headers=admin
        )
        response.raise_for_status()
        made.append(uuid.UUID(response.json()["id"]))
    return made


def split_by_jurisdiction(data: bytes, units: dict[str, list[uuid.UUID]]) -> dict[str, bytes]:
    """The catalogue file cut into one file per jurisdiction (the first column is org)."""
    home = {str(u): j for j, us in units.items() for u in us}
    header, *lines = data.split(b"\r\n")
    parts: dict[str, list[bytes]] = {j: [header] for j in units}
    for line in lines:
        if line:
            parts[home[line.split(b",", 1)[0].decode()]].append(line)
    return {j: b"\r\n".join(p) + b"\r\n" for j, p in parts.items()}


async def measure(
    client: httpx.AsyncClient,
    conn: asyncpg.Connection,
    units: dict[str, list[uuid.UUID]],
    bearer: Callable[..., tuple[dict[str, str], Principal]],
    admin_h: dict[str, str],
    admin_p: Principal,
    repeat: int,
) -> None:
    j = "linfen-water"
    unit = units[j][7]
    auth_h, auth_p = bearer(["authority"], j)
    unit_h, unit_p = bearer(["unit"], j, unit)

    async def cursor_after(principal: Principal, filters: dict[str, Any], skip: int) -> str:
        query = repository.filtered_systems(principal, SystemFilters(**filters))
        ids = query.with_only_columns(System.id).order_by(System.id)
        sql = str(
            ids.offset(skip - 1)
            .limit(1)
            .compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
        )
        last = await conn.fetchval(sql)
        return repository.encode_cursor(last)

    total = await conn.fetchval("SELECT count(*) FROM systems")
    in_j = await conn.fetchval("SELECT count(*) FROM systems WHERE jurisdiction = $1", j)
    mine = await conn.fetchval("SELECT count(*) FROM systems WHERE org_id = $1", unit)
    retired = await conn.fetchval(
        "SELECT count(*) FROM systems WHERE jurisdiction = $1 AND status = 'retired'", j
    )
    # Serial n belongs to unit n % 100; units 0-19 are j's (linfen-water).
    here = f"{(total * 3) // 5 // 100 * 100 + 7:06d}"  # 1 row, in j
    elsewhere = f"{(total * 3) // 5 // 100 * 100 + 57:06d}"  # 1 row, in leshan
    cases = [
        Case("baseline: admin, no filter, page 1 (pk)", admin_h, admin_p, {}),
        Case(
            f"admin, no filter, cursor at row {int(in_j * 0.9):,} (its jurisdiction's)",
            admin_h,
            admin_p,
            {},
            await cursor_after(admin_p, {}, int(in_j * 0.9)),
        ),
        Case(f"authority ({in_j:,} visible), page 1", auth_h, auth_p, {}),
        Case(
            f"authority, cursor at row {int(in_j * 0.95):,}",
            auth_h,
            auth_p,
            {},
            await cursor_after(auth_p, {}, int(in_j * 0.95)),
        ),
        Case(f"unit ({mine:,} own), page 1", unit_h, unit_p, {}),
        Case(
            f"unit, cursor at row {max(1, mine - 60):,}",
            unit_h,
            unit_p,
            {},
            await cursor_after(unit_p, {}, max(1, mine - 60)),
        ),
        Case("authority, org=<unit>", auth_h, auth_p, {"org": str(unit)}),
        Case("authority, status=building", auth_h, auth_p, {"status": "building"}),
        Case(
            f"authority, status=retired, cursor at row {int(retired * 0.9):,}",
            auth_h,
            auth_p,
            {"status": "retired"},
            await cursor_after(auth_p, {"status": "retired"}, int(retired * 0.9)),
        ),
        Case("authority, cloud=migrating", auth_h, auth_p, {"cloud": "migrating"}),
        Case("authority, cloud=exempt (5 %)", auth_h, auth_p, {"cloud": "exempt"}),
        Case(
            "authority, status=building&cloud=migrating",
            auth_h,
            auth_p,
            {"status": "building", "cloud": "migrating"},
        ),
        Case("authority, network=private (2 %)", auth_h, auth_p, {"network": "private"}),
        Case("authority, sharing_connected=false", auth_h, auth_p, {"sharing_connected": False}),
        Case("authority, q=水质监测 (1 in 20)", auth_h, auth_p, {"q": "水质监测"}),
        # Same statement as the common word just above: the plan cache would reuse it.
        Case(f"authority, q={here} (1 row)", auth_h, auth_p, {"q": here}),
        Case(
            f"authority, q={elsewhere} (0 rows: another jurisdiction's)",
            auth_h,
            auth_p,
            {"q": elsewhere},
        ),
        Case("authority, q=不存在的系统 (0 rows)", auth_h, auth_p, {"q": "不存在的系统"}),
        # An admin reads its own jurisdiction only (shared.auth.access): 0 rows here.
        Case(f"admin, q={elsewhere} (another jurisdiction's)", admin_h, admin_p, {"q": elsewhere}),
    ]
    timings = await time_pages(client, cases, repeat)
    for t in timings:
        t.custom, t.served, t.sql_ms = await explain(conn, t.case)
    base, sql_base = timings[0].median_ms, timings[0].sql_ms

    print(
        f"\nGET /api/v1/systems?limit={PAGE} on {total:,} systems. HTTP: in-process, token"
        f" check and JSON included, median/p95 of {repeat} interleaved rounds. SQL: the"
        " page's query as a pooled connection runs it, EXPLAIN ANALYZE execution time"
        " (median of 5). Ratios against the baseline, measured in this run."
    )
    width = max(len(t.case.label) for t in timings)
    print(
        f"{'case':<{width}}  {'items':>5}  {'HTTP ms':>7}  {'p95':>6}  {'× base':>6}"
        f"  {'SQL ms':>7}  {'× base':>6}  plan"
    )
    for t in timings:
        print(
            f"{t.case.label:<{width}}  {t.items:>5}  {t.median_ms:>7.2f}  {t.p95_ms:>6.2f}"
            f"  {t.median_ms / base:>6.2f}  {t.sql_ms:>7.3f}  {t.sql_ms / sql_base:>6.1f}"
            f"  {plan_kind(t.served or []).split(' [')[0]}"
        )

    print(
        "\nEXPLAIN (ANALYZE, BUFFERS) of each page's SQL as a pooled connection serves it"
        " (a prepared statement past its 5 custom plans; where the plan for the values"
        " inlined differs, that one follows):"
    )
    for t in timings:
        print(f"\n-- {t.case.label}")
        for line in t.served or []:
            print(f"   {line}")
        if plan_kind(t.custom or []).split(" [")[0] != plan_kind(t.served or []).split(" [")[0]:
            print("   -- with the values inlined (a custom plan):")
            for line in t.custom or []:
                print(f"   {line}")
    print("\nindexes on systems:")
    for r in await conn.fetch(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'systems' ORDER BY indexname"
    ):
        print(f"  {r[0]}")
    common = next(c for c in cases if c.filters.get("q") == "水质监测")
    rare = next(c for c in cases if c.filters.get("q") == elsewhere and c.principal is auth_p)
    generic, forced = await generic_plan_demo(conn, common, rare)
    print(
        "\nwhy a name search forces a custom plan: one prepared statement run 10 times with"
        f" q=水质监测, then with q={elsewhere}:"
    )
    print(f"  plan cache left alone : {plan_kind(generic)}")
    if plan_kind(generic).split(" [")[0] == plan_kind(forced).split(" [")[0]:
        print("     (this time the plan cache kept custom plans; on other data it switches to")
        print("      a generic plan that walks the primary key and filters every row)")
    else:
        for line in generic:
            print(f"     {line}")
    print(f"  force_custom_plan     : {plan_kind(forced)}")
    trgm = await conn.fetchval("SELECT show_trgm('水质监测')::text")
    print(f"\npg_trgm splits 水质监测 into {trgm} (CJK characters count as word characters)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=25)
    args = parser.parse_args()
    started = time.perf_counter()
    stack = start_stack()
    try:
        print(f"PostgreSQL on :{stack.pg.port}, NATS on :{stack.nats.port}, under {stack.root}")
        asyncio.run(asyncio.wait_for(run(stack, args.rows, args.repeat), timeout=600))
    finally:
        stack.stop()
    print(f"\ntotal {time.perf_counter() - started:.0f} s; everything started was stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
