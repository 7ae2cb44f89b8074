"""One project's whole life through the gateway, step by step, per profile.

``Walk`` drives the suite with the tokens of each role (unit, authority, reviewer,
finance, auditor, admin) and times each step. A step belongs to one service; when
that service is still listed in ``tests/contract/waiting.WAITING_ROUTES`` the walk
first checks that the gateway indeed has no such route for it (404 ``not_found``
from the service: the list is still true), records where it stopped, and ends: the
steps after it wait for that service, visibly (``Walk.waiting_for``).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

from deploy.local.walk import ACCEPTANCE_DOCUMENTS, catching_up, materials
from shared.policy import load_profile
from tests.contract.waiting import GATEWAY_UNROUTED, WAITING_ROUTES
from tests.e2e.suite import Suite
from tests.support.checks import problem, wait_until

# step name -> seconds, over the whole session (the slowest step goes in the summary)
TIMINGS: dict[str, float] = {}

UNITS = {  # not the names make demo uses: both run on the session's suite
    "linfen-water": "临汾市水利局水资源管理科",
    "xiangfen": "襄汾县政务服务中心",
    "xinzhou-transport": "忻州市交通运输综合行政执法队",
    "leshan": "乐山市政务服务和公共资源交易服务中心",
    "jincheng": "晋城市政务信息化项目管理中心",
}
# A route of each service that exists once it has landed (the waiting check's probe).
PROBES = {
    "approval": ("GET", "/api/v1/projects"),
    "filing": ("GET", "/api/v1/filings/overdue"),
    "funding": ("GET", "/api/v1/disbursements"),
    "evaluation": ("GET", "/api/v1/rectifications"),
}


class Waiting(Exception):
    """The walk reached a step of a service that has not landed."""


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def rules_of(body: dict[str, Any]) -> set[str]:
    return {v["rule"] for v in body.get("violations", [])}


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


@dataclass
class Walk:
    suite: Suite
    client: httpx.AsyncClient
    profile: str
    today: date = field(default_factory=date.today)
    done: list[str] = field(default_factory=list)
    waiting_for: str | None = None
    unit: str = ""
    systems: list[str] = field(default_factory=list)
    project: str = ""
    number: str = ""
    unit_name: str = ""  # another unit of the profile than UNITS names
    planned_completion_on: date | None = None

    # --- tokens -----------------------------------------------------------------------

    def as_(
        self, role: str, org: str | None = None, jurisdiction: str | None = None
    ) -> dict[str, str]:
        if role == "unit":
            org = org or self.unit
        return self.suite.token(
            role, jurisdiction or self.profile, org or "00000000-0000-0000-0000-000000000000"
        )

    # --- steps ------------------------------------------------------------------------

    async def step(self, name: str, service: str, run: Callable[[], Awaitable[None]]) -> None:
        if service in WAITING_ROUTES:
            method, path = PROBES[service]
            answer = await self.client.request(method, path, headers=self.as_("auditor"))
            problem(answer, 404, "not_found")  # the service has no such route: still waiting
            self.waiting_for = service
            raise Waiting(f"{self.profile}: '{name}' waits for {service}")
        started = time.perf_counter()
        await run()
        TIMINGS[f"{self.profile}: {name}"] = time.perf_counter() - started
        self.done.append(name)

    async def run(self) -> None:
        """The whole life; stops (``Waiting``) at the first step of a waiting service."""
        try:
            await self.step("unit registered", "registry", self.register_unit)
            await self.step("systems catalogued", "registry", self.catalogue)
            await self.step("catalogue refusals and access", "registry", self.registry_refusals)
            await self.step("project created", "approval", self.create_project)
            await self.step("materials attached, submitted", "approval", self.submit)
            await self.step("opinions and reviews", "approval", self.opinions_and_reviews)
            await self.step("approved with number", "approval", self.approve)
            await self.step("allocation effective", "funding", self.allocate)
            await self.step("contract filed", "filing", self.file_contract)
            await self.step("supervisor filed", "filing", self.file_supervisor)
            await self.step("construction disbursed", "funding", self.disburse_construction)
            await self.step(
                "operations refused before acceptance", "funding", self.operations_refused
            )
            await self.step("acceptance passed and filed", "filing", self.accept)
            await self.step("evaluation result", "evaluation", self.evaluate)
            await self.step("system lapses refused", "funding", self.system_gates_refused)
            await self.step("operations disbursed", "funding", self.disburse_operations)
        except Waiting:
            return

    # registry ---------------------------------------------------------------------------

    async def register_unit(self) -> None:
        unit = created(
            await self.client.post(
                "/api/v1/units",
                json={"name": self.unit_name or UNITS[self.profile], "jurisdiction": self.profile},
                headers=self.as_("admin"),
            )
        )
        assert unit["jurisdiction"] == self.profile
        self.unit = unit["id"]

    def system_body(self, name: str, **changes: object) -> dict[str, object]:
        return {
            "name": name,
            "org": self.unit,
            "status": "operating",
            "network": "extranet",
            "cloud": "on_cloud",
            "sharing_connected": True,
            "mlps_level": 3,
            "crypto_assessed": True,
            "asset_registered": True,
            **changes,
        }

    async def catalogue(self) -> None:
        unit = self.as_("unit")
        for name in ("政务数据共享交换平台", "项目管理协同系统"):
            system = created(
                await self.client.post("/api/v1/systems", json=self.system_body(name), headers=unit)
            )
            created(
                await self.client.post(
                    f"/api/v1/systems/{system['id']}/resources",
                    json={
                        "name": f"{name}业务数据",
                        "source": "业务办理",
                        "format": "JSON",
                        "update_frequency": "实时",
                        "share_type": "conditional",
                        "open_type": "none",
                    },
                    headers=unit,
                )
            )
            compliance = ok(
                await self.client.get(f"/api/v1/systems/{system['id']}/compliance", headers=unit)
            )
            assert compliance["violations"] == [], compliance
            self.systems.append(system["id"])
        listed = ok(await self.client.get(f"/api/v1/systems?org={self.unit}", headers=unit))
        assert {s["id"] for s in listed["items"]} == set(self.systems)

    async def registry_refusals(self) -> None:
        """Cited refusals of this profile, and who may do what."""
        unit = self.as_("unit")
        legacy = created(
            await self.client.post(
                "/api/v1/systems",
                json=self.system_body(
                    "旧版业务系统", cloud="not_migrated", sharing_connected=False
                ),
                headers=unit,
            )
        )
        rules = {
            v["rule"]
            for v in ok(
                await self.client.get(f"/api/v1/systems/{legacy['id']}/compliance", headers=unit)
            )["violations"]
        }
        assert rules and all(r.startswith(f"{self.profile}:") for r in rules), rules
        profile = load_profile(self.profile)
        if profile.registry.government_cloud:
            assert profile.registry.government_cloud.rule in rules
        # every role on the catalogue: the auditor reads and never writes, a unit writes
        # only its own, another jurisdiction sees nothing
        sid = self.systems[0]
        for role in ("auditor", "authority", "finance", "reviewer"):
            assert (
                await self.client.get(f"/api/v1/systems/{sid}", headers=self.as_(role))
            ).status_code == 200, role
            refused = await self.client.patch(
                f"/api/v1/systems/{sid}", json={"name": "改名"}, headers=self.as_(role)
            )
            assert refused.status_code in (403, 404), (role, refused.text)
        stranger = self.as_("unit", org=str(uuid.uuid4()))
        problem(await self.client.get(f"/api/v1/systems/{sid}", headers=stranger), 404)
        elsewhere = "jincheng" if self.profile != "jincheng" else "leshan"
        problem(
            await self.client.get(
                f"/api/v1/systems/{sid}", headers=self.as_("auditor", jurisdiction=elsewhere)
            ),
            404,
        )
        problem(
            await self.client.post(
                "/api/v1/units",
                json={"name": "越权单位", "jurisdiction": self.profile},
                headers=self.as_("authority"),
            ),
            403,
        )
        await self.client.patch(
            f"/api/v1/systems/{legacy['id']}", json={"status": "retired"}, headers=unit
        )
        await self.background_import_refused()

    async def background_import_refused(self) -> None:
        """A catalogue sent with ``Prefer: respond-async``: 202 and a Location the gateway
        routes, where the import ends refused with its row's error, nothing stored, and
        which no other unit may read."""
        unit = self.as_("unit")
        sent = await self.client.post(
            "/api/v1/systems:import",
            content=f"name,org,status,network,cloud\n后台导入系统,{self.unit},live,extranet,on_cloud\n".encode(),
            headers={**unit, **key(), "Content-Type": "text/csv", "Prefer": "respond-async"},
        )
        assert sent.status_code == 202, sent.text
        assert sent.headers["Preference-Applied"] == "respond-async"
        location = sent.headers["Location"]
        answer: dict[str, Any] = {}

        async def finished() -> bool:
            answer.update(ok(await self.client.get(location, headers=unit)))
            return answer["state"] in ("done", "refused")

        await wait_until(finished, 30, "the background import finishes")
        assert answer["state"] == "refused" and answer["imported"] == 0, answer
        assert [(e["row"], e["column"]) for e in answer["errors"]] == [(2, "status")], answer
        stranger = self.as_("unit", org=str(uuid.uuid4()))
        problem(await self.client.get(location, headers=stranger), 404)
        listed = ok(await self.client.get(f"/api/v1/systems?org={self.unit}", headers=unit))
        assert "后台导入系统" not in {s["name"] for s in listed["items"]}

    # approval (API.md "Approval") ---------------------------------------------------------

    @property
    def year(self) -> int:
        return self.today.year

    async def create_project(self) -> None:
        body: dict[str, Any] = {
            "name": f"{self.unit_name or UNITS[self.profile]}数据治理项目",
            "org": self.unit,
            "delivery": "self_build",
            "kind": "new",
            "total_investment": "1200000.00",
            "annual_budgets": [{"year": self.year, "amount": "1200000.00"}],
            "system_ids": self.systems,
            "declarations": {},
        }
        if self.planned_completion_on:
            body["planned_completion_on"] = self.planned_completion_on.isoformat()
        project: dict[str, Any] = {}

        async def made() -> bool:  # 409 unit_unknown until approval has the unit's event
            answer = await self.client.post(
                "/api/v1/projects", json=body, headers={**self.as_("unit"), **key()}
            )
            if answer.status_code == 409 and answer.json().get("code") == "unit_unknown":
                return False
            project.update(created(answer))
            return True

        await wait_until(made, 30, "the project is created once approval knows the unit")
        assert project["status"] == "draft" and project["profile"] == self.profile
        self.project = project["id"]

    async def submit(self) -> None:
        unit = self.as_("unit")
        cited = {m.rule for m in load_profile(self.profile).required_materials}
        missing: set[str] = set()

        async def only_materials_missing() -> bool:
            # The systems reach approval as registry events: until they have, the
            # pre-screen also cites them (catalogue, resources, sharing). A refused
            # submit stores nothing, so asking again is safe.
            early = await self.client.post(
                f"/api/v1/projects/{self.project}/submit", headers={**unit, **key()}
            )
            missing.clear()
            missing.update(rules_of(problem(early, 422)))  # every missing material, cited
            return bool(missing) and missing <= cited | {"xinzhou-transport:7"}

        await wait_until(only_materials_missing, 30, "only the materials cited on an early submit")
        for material in materials(load_profile(self.profile)):
            created(
                await self.client.post(
                    f"/api/v1/projects/{self.project}/materials",
                    json={"type": material, "title": f"{material}.pdf", "sha256": "a" * 64},
                    headers={**unit, **key()},
                )
            )
        assert (
            ok(
                await self.client.post(
                    f"/api/v1/projects/{self.project}/submit", headers={**unit, **key()}
                )
            )["status"]
            == "submitted"
        )

    async def opinions_and_reviews(self) -> None:
        profile = load_profile(self.profile)
        if profile.required_opinions:  # leshan:22, jincheng:8: no decision without them
            early = await self.client.post(
                f"/api/v1/projects/{self.project}/decision",
                json={
                    "outcome": "approved",
                    "approved_total": "1000000.00",
                    "approved_annual_budgets": [{"year": self.year, "amount": "1000000.00"}],
                    "reasons": "未经审查",
                },
                headers={**self.as_("authority"), **key()},
            )
            refused = problem(early, 409, "opinion_missing")
            assert rules_of(refused) == {o.rule for o in profile.required_opinions}, refused
        for opinion in profile.required_opinions:
            topic = getattr(opinion, "topic", opinion)
            created(
                await self.client.post(
                    f"/api/v1/projects/{self.project}/opinions",
                    json={"topic": topic, "verdict": "agree", "comment": "同意"},
                    headers={**self.as_("reviewer"), **key()},
                )
            )
        created(
            await self.client.post(
                f"/api/v1/projects/{self.project}/reviews",
                json={
                    "need": 90,
                    "intensiveness": 85,
                    "feasibility": 88,
                    "budget": 80,
                    "performance_goals": 86,
                    "comment": "需求明确，建议批准",
                },
                headers={**self.as_("authority"), **key()},
            )
        )

    async def approve(self) -> None:
        answer = ok(
            await self.client.post(
                f"/api/v1/projects/{self.project}/decision",
                json={
                    "outcome": "approved",
                    "approved_total": "1000000.00",
                    "approved_annual_budgets": [{"year": self.year, "amount": "1000000.00"}],
                    "reasons": "符合规划",
                },
                headers={**self.as_("authority"), **key()},
            )
        )
        project = ok(
            await self.client.get(f"/api/v1/projects/{self.project}", headers=self.as_("unit"))
        )
        assert project["status"] == "approved", (answer, project)
        assert re.fullmatch(rf"{self.profile}-{self.year}-\d{{4}}", project["number"]), project
        self.number = project["number"]

    # funding and filing -----------------------------------------------------------------

    async def funding(self) -> dict[str, Any]:
        return ok(
            await self.client.get(
                f"/api/v1/funding/projects/{self.project}", headers=self.as_("finance")
            )
        )

    async def allocate(self) -> None:
        async def known() -> bool:  # funding has the approval from its events
            answer = await self.client.get(
                f"/api/v1/funding/projects/{self.project}", headers=self.as_("finance")
            )
            return answer.status_code == 200 and answer.json()["approved_total"] == "1000000.00"

        await wait_until(known, 30, "funding knows the approved total")
        plan = created(
            await self.client.post(
                "/api/v1/allocation-plans",
                json={
                    "year": self.year,
                    "items": [
                        {
                            "project_id": self.project,
                            "category": "construction",
                            "amount": "600000.00",
                        },
                        {
                            "project_id": self.project,
                            "category": "operations",
                            "amount": "100000.00",
                        },
                    ],
                    "published_on": (self.today - timedelta(days=40)).isoformat(),
                },
                headers={**self.as_("finance"), **key()},
            )
        )
        assert plan["status"] == "effective", plan
        notice = load_profile(self.profile).allocation_public_notice
        if notice is not None:  # xiangfen:14, jincheng:11: published today, not yet in force
            pending = created(
                await self.client.post(
                    "/api/v1/allocation-plans",
                    json={
                        "year": self.year,
                        "items": [
                            {
                                "project_id": self.project,
                                "category": "construction",
                                "amount": "10000.00",
                            }
                        ],
                    },
                    headers={**self.as_("finance"), **key()},
                )
            )
            assert pending["status"] == "in_notice", pending
            assert pending["effective_on"] > self.today.isoformat(), pending

    async def file(self, type_: str, **extra: object) -> dict[str, Any]:
        """A filing by the unit, once filing has the approved project from its events."""
        body = {
            "project_id": self.project,
            "type": type_,
            "event_date": self.today.isoformat(),
            "documents": [{"type": type_, "title": f"{type_}.pdf", "sha256": "b" * 64}],
            **extra,
        }
        return await self.created_once_known("/api/v1/filings", body, self.as_("unit"))

    async def created_once_known(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        """POST until the service has caught up with the project and its filings."""
        made: dict[str, Any] = {}

        async def done() -> bool:
            answer = await self.client.post(path, json=body, headers={**headers, **key()})
            if catching_up(answer):
                return False
            made.update(created(answer))
            return True

        await wait_until(done, 30, f"{path} accepted once the service knows the project")
        return made

    async def disburse(self, category: str, amount: str) -> httpx.Response:
        return await self.client.post(
            "/api/v1/disbursements",
            json={
                "project_id": self.project,
                "category": category,
                "amount": amount,
                "year": self.year,
            },
            headers={**self.as_("finance"), **key()},
        )

    async def file_contract(self) -> None:
        filing = await self.file("contract")
        assert filing["on_time"] in (True, None)

        async def building() -> bool:
            project = ok(
                await self.client.get(f"/api/v1/projects/{self.project}", headers=self.as_("unit"))
            )
            return project["status"] == "in_construction"

        await wait_until(building, 30, "approval moves the project to in_construction")
        if self.profile == "xinzhou-transport":  # construction refused before the supervisor filing
            refused = problem(await self.disburse("construction", "100000.00"), 409)
            assert "xinzhou-transport:21" in rules_of(refused), refused

    async def file_supervisor(self) -> None:
        await self.file("supervisor")

    async def disburse_construction(self) -> None:
        async def opened() -> bool:
            return bool((await self.funding())["gates"]["construction"]["open"])

        await wait_until(opened, 30, "the construction gate opens")
        for role in ("unit", "authority", "auditor", "reviewer"):  # finance alone pays
            refused = await self.client.post(
                "/api/v1/disbursements",
                json={
                    "project_id": self.project,
                    "category": "construction",
                    "amount": "1.00",
                    "year": self.year,
                },
                headers={**self.as_(role), **key()},
            )
            assert refused.status_code in (403, 404), (role, refused.text)
        made = created(await self.disburse("construction", "500000.00"))
        assert made["status"] == "disbursed"
        problem(await self.disburse("construction", "200000.00"), 409)  # over the allocation

    async def operations_refused(self) -> None:
        gate = next(
            g
            for g in load_profile(self.profile).gates("operations")
            if g.fact.startswith("acceptance")
        )
        refused = problem(await self.disburse("operations", "50000.00"), 409)
        assert gate.rule in rules_of(refused), refused

    async def accept(self) -> None:
        result = await self.client.post(
            "/api/v1/acceptances",
            json={
                "project_id": self.project,
                "accepted_on": self.today.isoformat(),
                "passed": True,
                "opinion": "验收合格",
            },
            headers={**self.as_("authority"), **key()},
        )
        if "/api/v1/acceptances" in GATEWAY_UNROUTED:  # the filing below records both
            problem(result, 404, "route_not_found")
        else:
            created(result)
        report = {
            "project_id": self.project,
            "type": "acceptance",
            "event_date": self.today.isoformat(),
            "documents": [
                {"type": d, "title": f"{d}.pdf", "sha256": "c" * 64} for d in ACCEPTANCE_DOCUMENTS
            ],
            "passed": True,
            "trial_run_started_on": (self.today - timedelta(days=120)).isoformat(),
            "catalogue_joined": True,
            "secure_controllable": True,
        }
        handover = load_profile(self.profile).source_code_handover
        if handover is not None:  # leshan:43, xinzhou-transport:12: documents and code first
            early = await self.client.post(
                "/api/v1/filings", json=report, headers={**self.as_("unit"), **key()}
            )
            assert handover.rule in rules_of(problem(early, 422)), early.text
            await self.file("handover")
        filing = await self.created_once_known("/api/v1/filings", report, self.as_("unit"))
        assert filing["on_time"] is not False, filing

        async def operating() -> bool:
            project = ok(
                await self.client.get(f"/api/v1/projects/{self.project}", headers=self.as_("unit"))
            )
            return project["status"] == "in_operation"

        await wait_until(operating, 30, "approval moves the project to in_operation")

    async def evaluate(self) -> None:
        """The unit's self-evaluation, filed and scored. Under xinzhou-transport:5 the
        operations money waits for it: refused first, citing that article."""
        if self.profile == "xinzhou-transport":

            async def refused_for_evaluation() -> bool:
                answer = problem(await self.disburse("operations", "50000.00"), 409)
                return rules_of(answer) == {"xinzhou-transport:5"}

            await wait_until(refused_for_evaluation, 30, "only xinzhou-transport:5 is left")
        filing = await self.file("self_evaluation")
        scores = {
            "support_capacity": 85,
            "user_satisfaction": 90,
            "efficiency_gain": 80,
            "sustainability": 78,
            "security_reliability": 88,
        }
        evaluation = await self.created_once_known(
            "/api/v1/evaluations",
            {
                "project_id": self.project,
                "kind": "self",
                "method": "document_review",
                "scores": scores,
                "filing_id": filing["id"],
            },
            self.as_("unit"),
        )
        assert evaluation["failing"] is False, evaluation

    async def system_gates_refused(self) -> None:
        """Operations money waits while a system stops sharing its data (linfen-water:11,
        xiangfen:11, xinzhou-transport:10, jincheng:9; leshan:33 only from the next
        budget year) or, under xinzhou-transport:10, leaves the government cloud."""
        gates = {g.fact: g for g in load_profile(self.profile).gates("operations")}
        lapses = []
        if "data_shared" in gates and gates["data_shared"].timing == "immediate":
            lapses.append(
                ({"sharing_connected": False}, {"sharing_connected": True}, "data_shared")
            )
        if "cloud_migrated" in gates:
            lapses.append(({"cloud": "migrating"}, {"cloud": "on_cloud"}, "cloud_migrated"))
        unit, system = self.as_("unit"), f"/api/v1/systems/{self.systems[0]}"
        for lapse, back, fact in lapses:
            rule = gates[fact].rule
            ok(await self.client.patch(system, json=lapse, headers=unit))

            async def gate_closed(rule: str = rule) -> bool:  # funding has the update
                gate = (await self.funding())["gates"]["operations"]
                return not gate["open"] and rule in rules_of(gate)

            await wait_until(gate_closed, 30, f"the operations gate closes ({rule})")
            refused = problem(await self.disburse("operations", "50000.00"), 409)
            assert rule in rules_of(refused), refused
            ok(await self.client.patch(system, json=back, headers=unit))

    async def disburse_operations(self) -> None:
        async def opened() -> bool:
            return bool((await self.funding())["gates"]["operations"]["open"])

        try:
            await wait_until(opened, 30, "the operations gate opens")
        except AssertionError:
            raise AssertionError(f"operations gate still closed: {await self.funding()}") from None
        created(await self.disburse("operations", "50000.00"))
        money = await self.funding()
        assert Decimal(money["disbursed"]) == Decimal("550000.00"), money
