"""``make demo``: a lively sample loaded into a running ``make up``, through the public
API only, then a summary.

    make up &          # in another terminal
    make demo          # GOVIT_PORT=8080 make demo for another gateway port

Several units per profile with Chinese names, a few hundred catalogued systems with
their data resources (some not yet on the cloud or not sharing), and, for every
service that has landed (the gateway's merged OpenAPI says which), projects at each
stage of their life: drafts, submitted, approved with numbers, in construction with
filings and money, accepted and in operation, rejected, one suspended, some overdue.

Running it twice adds nothing: every unit, system and project is looked up by name
before it is created, each POST carries an Idempotency-Key derived from what it
creates, and a project is only moved forward from the status it has. Tokens are
development tokens signed with ``.govit/keys`` (what ``make token`` prints).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.auth import ensure_dev_keys, mint_token
from shared.settings import GovitSettings

NIL = "00000000-0000-0000-0000-000000000000"
NAMESPACE = uuid.UUID("5d1c0c53-8d55-4c1f-9a43-3f1d0a6a2b7e")  # Idempotency-Keys

UNITS: dict[str, list[str]] = {
    "linfen-water": ["临汾市水利局信息中心", "临汾市水文水资源勘测站", "临汾市水利工程建设管理站"],
    "xiangfen": ["襄汾县行政审批服务管理局", "襄汾县自然资源局", "襄汾县卫生健康和体育局"],
    "xinzhou-transport": [
        "忻州市交通运输局信息中心",
        "忻州市公路事业发展中心",
        "忻州市道路运输服务中心",
    ],
    "leshan": ["乐山市大数据服务中心", "乐山市公安局", "乐山市市场监督管理局", "乐山市医疗保障局"],
    "jincheng": ["晋城市大数据应用局", "晋城市人力资源和社会保障局", "晋城市生态环境局"],
}
SYSTEMS = [
    "政务服务一网通办平台",
    "电子证照库",
    "数据共享交换平台",
    "视频会议系统",
    "公文流转系统",
    "应急指挥调度系统",
    "财务管理系统",
    "档案管理系统",
    "网上信访系统",
    "行政执法监管平台",
    "信用信息平台",
    "地理信息服务平台",
    "项目审批管理系统",
    "统计分析决策系统",
    "移动办公平台",
    "门户网站",
    "人事管理系统",
    "资产管理系统",
    "热线受理系统",
    "监测预警系统",
]
RESOURCES = [
    ("业务办理数据", "业务系统", "JSON", "实时"),
    ("统计报表", "人工汇总", "XLSX", "每月"),
    ("基础信息库", "部门采集", "CSV", "每日"),
]
# The stage each demo project is taken to (in order of its life); a unit's projects
# take these in turn. Stages a landed service cannot reach yet stay at the last one.
STAGES = [
    "draft",
    "submitted",
    "approved",
    "in_construction",
    "constructing_paid",
    "accepted",
    "in_operation",
    "operations_paid",
    "rejected",
    "suspended",
    "overdue",
]


def idempotency_key(*parts: object) -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid5(NAMESPACE, "/".join(map(str, parts))))}


@dataclass
class Demo:
    client: httpx.Client
    settings: GovitSettings
    paths: set[str] = field(default_factory=set)
    created: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    units: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    # --- plumbing ---------------------------------------------------------------------

    def token(self, role: str, jurisdiction: str, org: str = NIL) -> dict[str, str]:
        keys = ensure_dev_keys(self.settings.dev_keys_dir)
        jwt = mint_token(
            keys.private_key,
            keys.kid,
            sub=f"demo-{role}-{org[:8]}",
            org=org,
            jurisdiction=jurisdiction,
            roles=[role],
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
        )
        return {"Authorization": f"Bearer {jwt}"}

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; a 429 or 503 waits as told and tries again."""
        for _ in range(20):
            response = self.client.request(method, path, **kwargs)
            if response.status_code not in (429, 503):
                return response
            time.sleep(min(float(response.headers.get("Retry-After", "1")), 10))
        return response

    def expect(self, response: httpx.Response, *statuses: int) -> dict[str, Any]:
        if response.status_code not in statuses:
            raise SystemExit(
                f"{response.request.method} {response.request.url.path}: "
                f"{response.status_code} {response.text[:400]}"
            )
        body: dict[str, Any] = response.json() if response.content else {}
        return body

    def pages(self, path: str, headers: dict[str, str], **params: Any) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            query = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
            page = self.expect(self.call("GET", path, params=query, headers=headers), 200)
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def has(self, method: str, path: str) -> bool:
        return path in self.paths

    # --- registry ---------------------------------------------------------------------

    def load_registry(self) -> None:
        rng = random.Random(2026)  # noqa: S311 (sample data, the same on every run)
        for profile, names in UNITS.items():
            admin = self.token("admin", profile)
            known = {
                u["name"]: u
                for u in self.expect(
                    self.call(
                        "GET", "/api/v1/units", params={"jurisdiction": profile}, headers=admin
                    ),
                    200,
                )["items"]
            }
            for name in names:
                if name in known:
                    self.found["units"] += 1
                    unit = known[name]
                else:
                    unit = self.expect(
                        self.call(
                            "POST",
                            "/api/v1/units",
                            json={"name": name, "jurisdiction": profile},
                            headers={**admin, **idempotency_key("unit", profile, name)},
                        ),
                        201,
                    )
                    self.created["units"] += 1
                self.units[profile].append(unit)
                self.load_systems(profile, unit, rng)

    def load_systems(self, profile: str, unit: dict[str, Any], rng: random.Random) -> None:
        """The unit's catalogue in one CSV import (what is missing of it), then the data
        resources of the systems meant to share data, a few requests at a time."""
        headers = self.token("unit", profile, unit["id"])
        planned = []
        for name in SYSTEMS:
            # the same draws on every run, whether the system is created or found
            compliant = rng.random() < 0.75
            planned.append(
                {
                    "org": unit["id"],
                    "name": f"{unit['name'].removesuffix('信息中心')}{name}",
                    "status": rng.choices(["operating", "building", "planned"], [6, 2, 1])[0],
                    "network": "extranet",
                    "cloud": "on_cloud" if compliant else rng.choice(["migrating", "not_migrated"]),
                    "sharing_connected": compliant,
                    "mlps_level": rng.choice([2, 3]) if compliant else None,
                    "crypto_assessed": compliant,
                    "asset_registered": compliant or rng.random() < 0.5,
                    "resources": rng.randint(1, 3) if compliant else 0,
                }
            )
        have = {s["name"] for s in self.pages("/api/v1/systems", headers, org=unit["id"])}
        missing = [p for p in planned if p["name"] not in have]
        self.found["systems"] += len(planned) - len(missing)
        if missing:
            columns = [c for c in missing[0] if c != "resources"]
            lines = [",".join(columns)] + [
                ",".join(
                    ""
                    if p[c] is None
                    else str(p[c]).lower()
                    if isinstance(p[c], bool)
                    else str(p[c])
                    for c in columns
                )
                for p in missing
            ]
            answer = self.call(
                "POST",
                "/api/v1/systems:import",
                content=("\n".join(lines) + "\n").encode(),
                headers={
                    **headers,
                    "Content-Type": "text/csv",
                    **idempotency_key("import", unit["id"], *(p["name"] for p in missing)),
                },
            )
            self.created["systems"] += self.expect(answer, 201)["imported"]
        stored = {s["name"]: s for s in self.pages("/api/v1/systems", headers, org=unit["id"])}
        jobs = [
            (stored[p["name"]], p, r)
            for p in planned
            for r in RESOURCES[stored[p["name"]]["resource_count"] : p["resources"]]
        ]
        with ThreadPoolExecutor(max_workers=6) as pool:
            for _ in pool.map(lambda job: self.add_resource(headers, *job), jobs):
                self.created["resources"] += 1

    def add_resource(
        self,
        headers: dict[str, str],
        system: dict[str, Any],
        plan: dict[str, Any],
        r: tuple[str, ...],
    ) -> None:
        short = plan["name"][-6:]
        self.expect(
            self.call(
                "POST",
                f"/api/v1/systems/{system['id']}/resources",
                json={
                    "name": f"{short}{r[0]}",
                    "source": r[1],
                    "format": r[2],
                    "update_frequency": r[3],
                    "share_type": "conditional",
                    "open_type": "none",
                },
                headers={**headers, **idempotency_key("resource", system["id"], r[0])},
            ),
            201,
        )

    # --- summary ----------------------------------------------------------------------

    def summary(self) -> list[str]:
        lines = ["", "govit demo: what the suite holds now", ""]
        lines.append(f"{'profile':<20}{'units':>6}{'systems':>9}{'compliant':>11}")
        for profile, units in self.units.items():
            systems = [
                s
                for u in units
                for s in self.pages("/api/v1/systems", self.token("auditor", profile), org=u["id"])
            ]
            compliant = sum(1 for s in systems if all((s.get("facts") or {}).values()))
            lines.append(f"{profile:<20}{len(units):>6}{len(systems):>9}{compliant:>11}")
        lines += self.project_summary()
        made = ", ".join(f"{n} {k}" for k, n in sorted(self.created.items())) or "nothing"
        kept = ", ".join(f"{n} {k}" for k, n in sorted(self.found.items())) or "nothing"
        lines += ["", f"created this run: {made}", f"already there: {kept}"]
        lines += [f"note: {n}" for n in self.notes]
        return lines

    def project_summary(self) -> list[str]:
        return []


def gateway_url() -> str:
    return os.environ.get("GOVIT_URL") or f"http://127.0.0.1:{os.environ.get('GOVIT_PORT', '8000')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.demo", description=__doc__)
    parser.add_argument("--url", default=gateway_url(), help="the gateway (default: %(default)s)")
    args = parser.parse_args(argv)
    settings = GovitSettings()
    started = time.monotonic()
    with httpx.Client(base_url=args.url, timeout=60) as client:
        try:
            ready = client.get("/readyz", timeout=10)
        except httpx.HTTPError as exc:
            print(f"no gateway at {args.url} ({exc!r}): start `make up` first", file=sys.stderr)
            return 1
        demo = Demo(client, settings)
        if ready.status_code != 200:  # a service still starting, or one with trouble
            demo.notes.append(f"the suite was not wholly ready: {ready.text[:300]}")
        demo.paths = set(client.get("/openapi.json").json().get("paths", {}))
        demo.load_registry()
        for line in demo.summary():
            print(line)
    print(f"\n(done in {time.monotonic() - started:.1f} s; run again: nothing is added twice)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
