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
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

from deploy.local.walk import ACCEPTANCE_DOCUMENTS, catching_up, materials
from shared.auth import ensure_dev_keys, mint_token
from shared.policy import load_profile
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
# Each unit's projects, and the stage each is taken to (round robin over the units).
TOPICS = [
    "政务云迁移",
    "数据共享平台升级",
    "一网通办扩容",
    "视频资源整合",
    "电子档案建设",
    "应急指挥系统建设",
]
STAGES = [
    "draft",
    "submitted",
    "approved",
    "rejected",
    "in_construction",
    "construction_paid",
    "in_operation",
    "overdue",
    "suspended",
]
# The status a stage ends in once other services' events have reached approval (a
# contract filed starts construction, an acceptance filed starts operation, an
# escalated order suspends), and the routes that stage needs: the summary is printed
# after every project has settled, so a second run prints the same.
SETTLED: dict[str, tuple[str, tuple[str, ...]]] = {
    "in_construction": ("in_construction", ("/api/v1/filings",)),
    "construction_paid": ("in_construction", ("/api/v1/filings", "/api/v1/disbursements")),
    "overdue": ("in_construction", ("/api/v1/filings",)),
    "in_operation": ("in_operation", ("/api/v1/filings", "/api/v1/disbursements")),
    "suspended": ("suspended", ("/api/v1/filings", "/api/v1/rectifications")),
}
PROJECTS_PER_UNIT = 3
SCORES = {
    "support_capacity": 85,
    "user_satisfaction": 88,
    "efficiency_gain": 82,
    "sustainability": 80,
    "security_reliability": 86,
}


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
    lock: threading.Lock = field(default_factory=threading.Lock)
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
            # leshan's units import in the background (202, then the import's Location)
            background = {"Prefer": "respond-async"} if profile == "leshan" else {}
            answer = self.call(
                "POST",
                "/api/v1/systems:import",
                content=("\n".join(lines) + "\n").encode(),
                headers={
                    **headers,
                    **background,
                    "Content-Type": "text/csv",
                    **idempotency_key("import", unit["id"], *(p["name"] for p in missing)),
                },
            )
            if answer.status_code == 202:
                answer = self.finished_import(answer.headers["Location"], headers)
            self.created["systems"] += self.expect(answer, 200, 201)["imported"]
        stored = {s["name"]: s for s in self.pages("/api/v1/systems", headers, org=unit["id"])}
        jobs = [
            (stored[p["name"]], p, r)
            for p in planned
            for r in RESOURCES[stored[p["name"]]["resource_count"] : p["resources"]]
        ]
        with ThreadPoolExecutor(max_workers=6) as pool:
            for _ in pool.map(lambda job: self.add_resource(headers, *job), jobs):
                self.created["resources"] += 1

    def finished_import(self, location: str, headers: dict[str, str]) -> httpx.Response:
        """Poll a background import until it is done (or refused: the demo stops)."""
        answers: list[httpx.Response] = []

        def finished() -> bool:
            answer = self.call("GET", location, headers=headers)
            answers.append(answer)
            return answer.status_code != 200 or answer.json()["state"] in ("done", "refused")

        self.wait(finished, f"the import at {location}", seconds=120)
        if answers[-1].status_code == 200 and answers[-1].json()["state"] != "done":
            raise SystemExit(f"GET {location}: {answers[-1].text[:400]}")
        return answers[-1]

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
        lines += self.settled_project_summary()
        made = ", ".join(f"{n} {k}" for k, n in sorted(self.created.items())) or "nothing"
        kept = ", ".join(f"{n} {k}" for k, n in sorted(self.found.items())) or "nothing"
        lines += ["", f"created this run: {made}", f"already there: {kept}"]
        lines += [f"note: {n}" for n in self.notes]
        return lines

    # --- projects (approval, filing, funding, evaluation) ------------------------------

    def wait(self, check: Callable[[], bool], what: str, seconds: float = 30) -> bool:
        """Poll until ``check`` holds (events take a moment between services)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.2)
        self.notes.append(f"gave up waiting: {what}")
        return False

    def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str], *parts: object
    ) -> dict[str, Any]:
        """POST with an Idempotency-Key from ``parts``; a service that has not had the
        project's, unit's or filing's events yet is given a moment."""
        answer = None

        def sent() -> bool:
            nonlocal answer
            answer = self.call(
                "POST", path, json=body, headers={**headers, **idempotency_key(*parts)}
            )
            return not catching_up(answer)

        self.wait(sent, f"{path} for {parts}")
        assert answer is not None
        return self.expect(answer, 200, 201)

    def load_projects(self) -> None:
        if not self.has("POST", "/api/v1/projects"):
            self.notes.append("approval is not up: no projects")
            return
        jobs = []
        n = 0
        for profile, units in self.units.items():
            for unit in units:
                plan = []
                for j in range(PROJECTS_PER_UNIT):
                    n += 1
                    topic = TOPICS[(n + j) % len(TOPICS)]
                    name = f"{unit['name'].removesuffix('信息中心')}{topic}项目"
                    plan.append((name, STAGES[(n - 1) % len(STAGES)], n))
                jobs.append((profile, unit, plan))
        projects = [job for unit_job in jobs for job in self.unit_projects(*unit_job)]
        with ThreadPoolExecutor(max_workers=8) as pool:  # each project on its own
            list(pool.map(lambda job: self.one_project(*job), projects))

    def unit_projects(
        self, profile: str, unit: dict[str, Any], plan: list[tuple[str, str, int]]
    ) -> list[tuple[Any, ...]]:
        """What to do for each of the unit's projects: (profile, unit, name, stage, n,
        the project if it exists, the systems a new one covers)."""
        headers = self.token("unit", profile, unit["id"])
        existing = {p["name"]: p for p in self.pages("/api/v1/projects", headers, org=unit["id"])}
        systems = [
            s["id"]
            for s in self.pages("/api/v1/systems", headers, org=unit["id"], status="operating")
            if all(s["facts"].values())
        ][:2]
        if not systems:
            self.notes.append(f"{unit['name']}: no compliant operating system for a project")
            return []
        return [
            (profile, unit, name, stage, n, existing.get(name), systems) for name, stage, n in plan
        ]

    def one_project(
        self,
        profile: str,
        unit: dict[str, Any],
        name: str,
        stage: str,
        n: int,
        project: dict[str, Any] | None,
        systems: list[str],
    ) -> None:
        if project is None:
            project = self.create_project(profile, unit, name, systems, stage, n)
            self.count(self.created, "projects")
        else:
            self.count(self.found, "projects")
        self.advance(profile, unit, project, stage)
        self.settle(profile, unit, project, stage)

    def settle(
        self, profile: str, unit: dict[str, Any], project: dict[str, Any], stage: str
    ) -> None:
        """Wait until the project shows the status its stage ends in (see ``SETTLED``)."""
        status, needs = SETTLED.get(stage, (None, ()))
        if status is None or not all(self.has("POST", path) for path in needs):
            return
        self.wait(
            lambda: self.status(profile, unit, project) == status,
            f"project {project['id']} {status}",
        )

    def count(self, counter: Counter[str], what: str) -> None:
        with self.lock:
            counter[what] += 1

    def create_project(
        self, profile: str, unit: dict[str, Any], name: str, systems: list[str], stage: str, n: int
    ) -> dict[str, Any]:
        total = Decimal(500_000 + 250_000 * (n % 9))
        year = date.today().year
        body: dict[str, Any] = {
            "name": name,
            "org": unit["id"],
            "delivery": "self_build",
            "kind": "new",
            "total_investment": f"{total:.2f}",
            "annual_budgets": [{"year": year, "amount": f"{total:.2f}"}],
            "system_ids": systems,
            "declarations": {},
        }
        if stage == "overdue":  # the construction period ended two months ago
            body["planned_completion_on"] = (date.today() - timedelta(days=60)).isoformat()
        headers = self.token("unit", profile, unit["id"])
        return self.post("/api/v1/projects", body, headers, "project", unit["id"], name)

    def status(self, profile: str, unit: dict[str, Any], project: dict[str, Any]) -> str:
        headers = self.token("unit", profile, unit["id"])
        got = self.expect(
            self.call("GET", f"/api/v1/projects/{project['id']}", headers=headers), 200
        )
        project.update(got)
        return str(got["status"])

    def advance(
        self, profile: str, unit: dict[str, Any], project: dict[str, Any], stage: str
    ) -> None:
        """Move the project forward to ``stage`` from wherever it is (never backwards)."""
        pid = project["id"]
        rules = load_profile(profile)
        unit_h = self.token("unit", profile, unit["id"])
        authority = self.token("authority", profile)
        finance = self.token("finance", profile)
        if stage == "draft":
            return
        if self.status(profile, unit, project) == "draft":
            for material in materials(rules):
                self.post(
                    f"/api/v1/projects/{pid}/materials",
                    {
                        "type": material,
                        "title": f"{material}.pdf",
                        "sha256": uuid.uuid5(NAMESPACE, pid + material).hex * 2,
                    },
                    unit_h,
                    "material",
                    pid,
                    material,
                )
            self.post(f"/api/v1/projects/{pid}/submit", {}, unit_h, "submit", pid)
        if stage == "submitted":
            return
        if self.status(profile, unit, project) == "submitted":
            reviewer = self.token("reviewer", profile)
            for opinion in rules.required_opinions:
                topic = getattr(opinion, "topic", opinion)
                self.post(
                    f"/api/v1/projects/{pid}/opinions",
                    {"topic": topic, "verdict": "agree", "comment": "同意"},
                    reviewer,
                    "opinion",
                    pid,
                    topic,
                )
            self.post(
                f"/api/v1/projects/{pid}/reviews",
                {
                    "need": 88,
                    "intensiveness": 84,
                    "feasibility": 86,
                    "budget": 80,
                    "performance_goals": 85,
                    "comment": "同意立项",
                },
                authority,
                "review",
                pid,
            )
            total = Decimal(project["total_investment"])
            approved = (total * Decimal("0.9")).quantize(Decimal("0.01"))
            year = project["annual_budgets"][0]["year"]
            decision = (
                {"outcome": "rejected", "reasons": "建设内容与已建系统重复"}
                if stage == "rejected"
                else {
                    "outcome": "approved",
                    "approved_total": f"{approved:.2f}",
                    "approved_annual_budgets": [{"year": year, "amount": f"{approved:.2f}"}],
                    "reasons": "符合全市政务信息化规划",
                }
            )
            self.post(f"/api/v1/projects/{pid}/decision", decision, authority, "decision", pid)
        if stage in ("approved", "rejected") or not self.has("POST", "/api/v1/filings"):
            return
        today = date.today()
        if self.status(profile, unit, project) in ("submitted", "rejected"):
            return  # the decision did not go through (see the notes)
        year = project["annual_budgets"][0]["year"]
        approved = Decimal(project["approved_total"])
        money = self.has("POST", "/api/v1/disbursements")
        if money:
            self.allocate(profile, project, approved, year)
        filed = {f["type"] for f in self.pages("/api/v1/filings", unit_h, project_id=pid)}
        for kind in ("contract", "supervisor"):
            if kind not in filed:
                self.file(profile, unit, project, kind)
        if stage == "suspended":
            self.suspend(profile, project)
            return
        if stage in ("in_construction", "overdue") or not money:
            return
        view = self.funding(profile, pid)
        if Decimal(view["disbursed"]) == 0:
            self.wait(
                lambda: bool(self.funding(profile, pid)["gates"]["construction"]["open"]),
                "construction gate",
            )
            self.post(
                "/api/v1/disbursements",
                {
                    "project_id": pid,
                    "category": "construction",
                    "amount": f"{approved * Decimal('0.5'):.2f}",
                    "year": year,
                },
                finance,
                "disburse",
                pid,
                "construction",
            )
        if stage == "construction_paid":
            return
        if rules.source_code_handover is not None and "handover" not in filed:
            self.file(profile, unit, project, "handover")
        if "acceptance" not in filed:
            self.file(
                profile,
                unit,
                project,
                "acceptance",
                documents=[
                    {
                        "type": d,
                        "title": f"{d}.pdf",
                        "sha256": uuid.uuid5(NAMESPACE, pid + d).hex * 2,
                    }
                    for d in ACCEPTANCE_DOCUMENTS
                ],
                passed=True,
                trial_run_started_on=(today - timedelta(days=120)).isoformat(),
                catalogue_joined=True,
                secure_controllable=True,
            )
        if profile == "xinzhou-transport" and "self_evaluation" not in filed:  # xinzhou-transport:5
            filing = self.file(profile, unit, project, "self_evaluation")
            self.post(
                "/api/v1/evaluations",
                {
                    "project_id": pid,
                    "kind": "self",
                    "method": "document_review",
                    "scores": SCORES,
                    "filing_id": filing["id"],
                },
                unit_h,
                "evaluation",
                pid,
            )
        if not any(
            m["category"] == "operations"
            for m in self.pages("/api/v1/disbursements", finance, project_id=pid)
        ):
            self.wait(
                lambda: bool(self.funding(profile, pid)["gates"]["operations"]["open"]),
                "operations gate",
            )
            self.post(
                "/api/v1/disbursements",
                {
                    "project_id": pid,
                    "category": "operations",
                    "amount": f"{approved * Decimal('0.05'):.2f}",
                    "year": year,
                },
                finance,
                "disburse",
                pid,
                "operations",
            )

    def funding(self, profile: str, pid: str) -> dict[str, Any]:
        headers = self.token("finance", profile)
        answer = None

        def known() -> bool:
            nonlocal answer
            answer = self.call("GET", f"/api/v1/funding/projects/{pid}", headers=headers)
            return answer.status_code == 200

        self.wait(known, f"funding knows {pid}")
        assert answer is not None
        return self.expect(answer, 200)

    def allocate(self, profile: str, project: dict[str, Any], approved: Decimal, year: int) -> None:
        pid = project["id"]
        if Decimal(self.funding(profile, pid)["allocated"]) > 0:
            return
        self.wait(
            lambda: self.funding(profile, pid)["approved_total"] is not None,
            f"funding knows {pid} is approved",
        )
        self.post(
            "/api/v1/allocation-plans",
            {
                "year": year,
                "items": [
                    {
                        "project_id": pid,
                        "category": "construction",
                        "amount": f"{approved * Decimal('0.6'):.2f}",
                    },
                    {
                        "project_id": pid,
                        "category": "operations",
                        "amount": f"{approved * Decimal('0.1'):.2f}",
                    },
                ],
                # published long enough ago for any public notice (xiangfen:14, jincheng:11)
                "published_on": (date.today() - timedelta(days=40)).isoformat(),
            },
            self.token("finance", profile),
            "allocation",
            pid,
        )

    def file(
        self, profile: str, unit: dict[str, Any], project: dict[str, Any], kind: str, **extra: Any
    ) -> dict[str, Any]:
        pid = project["id"]
        body = {
            "project_id": pid,
            "type": kind,
            "event_date": date.today().isoformat(),
            "documents": [
                {
                    "type": kind,
                    "title": f"{kind}.pdf",
                    "sha256": uuid.uuid5(NAMESPACE, pid + kind).hex * 2,
                }
            ],
            **extra,
        }
        filing = self.post(
            "/api/v1/filings", body, self.token("unit", profile, unit["id"]), "filing", pid, kind
        )
        self.count(self.created, "filings")
        return filing

    def suspend(self, profile: str, project: dict[str, Any]) -> None:
        """An order for building against the approval, escalated: funds suspended."""
        if not self.has("POST", "/api/v1/rectifications"):
            return
        pid = project["id"]
        authority = self.token("authority", profile)
        orders = list(self.pages("/api/v1/rectifications", authority, project_id=pid))
        if any(o["status"] == "escalated" for o in orders):
            return
        order = next((o for o in orders if o["status"] == "open"), None) or self.post(
            "/api/v1/rectifications",
            {
                "project_id": pid,
                "reason": "built_against_approval",
                "due_on": (date.today() + timedelta(days=30)).isoformat(),
                "evidence": "现场核查发现建设内容超出批复范围",
            },
            authority,
            "rectification",
            pid,
        )
        self.post(
            f"/api/v1/rectifications/{order['id']}/escalate",
            {"grounds": "refused"},
            authority,
            "escalate",
            order["id"],
        )

    def settled_project_summary(self, seconds: float = 30) -> list[str]:
        """The project summary once two reads a second apart agree: events still on
        their way (a gate closing after an escalation) would make a second run differ."""
        deadline = time.monotonic() + seconds
        lines = self.project_summary()
        while time.monotonic() < deadline:
            time.sleep(1)
            previous, lines = lines, self.project_summary()
            if lines == previous:
                break
        return lines

    def project_summary(self) -> list[str]:
        if not self.has("GET", "/api/v1/projects"):
            return []
        by_status: dict[str, Counter[str]] = defaultdict(Counter)
        approved = disbursed = Decimal(0)
        gates = Counter[str]()
        overdue = rectifications = 0
        for profile in self.units:
            auditor = self.token("auditor", profile)
            for project in self.pages("/api/v1/projects", auditor):
                by_status[project["status"]][profile] += 1
                if project.get("approved_total") and self.has(
                    "GET", "/api/v1/funding/projects/{project_id}"
                ):
                    approved += Decimal(project["approved_total"])
                    answer = self.call(
                        "GET", f"/api/v1/funding/projects/{project['id']}", headers=auditor
                    )
                    if answer.status_code == 200:
                        view = answer.json()
                        disbursed += Decimal(view["disbursed"])
                        for category, gate in view["gates"].items():
                            gates[f"{category} {'open' if gate['open'] else 'closed'}"] += 1
            if self.has("GET", "/api/v1/filings/overdue"):
                overdue += sum(1 for _ in self.pages("/api/v1/filings/overdue", auditor))
            if self.has("GET", "/api/v1/rectifications"):
                rectifications += sum(
                    1
                    for o in self.pages("/api/v1/rectifications", auditor)
                    if o["status"] in ("suggested", "open", "escalated")
                )
        profiles = list(self.units)
        lines = ["", "projects by status and profile", ""]
        lines.append(f"{'status':<16}" + "".join(f"{p[:10]:>12}" for p in profiles) + f"{'all':>6}")
        for status in sorted(by_status):
            row = by_status[status]
            lines.append(
                f"{status:<16}"
                + "".join(f"{row[p]:>12}" for p in profiles)
                + f"{sum(row.values()):>6}"
            )
        lines += [
            "",
            f"money approved:        {approved:>16,.2f} yuan",
            f"money disbursed:       {disbursed:>16,.2f} yuan",
            "gates:                 "
            + (", ".join(f"{n} {k}" for k, n in sorted(gates.items())) or "-"),
            f"overdue obligations:   {overdue}"
            + ("" if overdue else "  (filing's scheduler finds them within a minute: run again)"),
            f"open rectifications:   {rectifications}",
        ]
        return lines


def gateway_url() -> str:
    return os.environ.get("GOVIT_URL") or f"http://127.0.0.1:{os.environ.get('GOVIT_PORT', '8000')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
        catalogue_done = time.monotonic()
        demo.load_projects()
        demo.notes.append(
            f"catalogue {catalogue_done - started:.1f} s, projects "
            f"{time.monotonic() - catalogue_done:.1f} s"
        )
        for line in demo.summary():
            print(line)
    print(f"\n(done in {time.monotonic() - started:.1f} s; run again: nothing is added twice)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
