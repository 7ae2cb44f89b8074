"""What approval's fuzz starts from: a unit and a catalogued system in its projections
(fed as the registry's events would be), and projects in draft, submitted and
approved, with a pending major change, so generated requests reach past 404."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from services.approval.consumers import consumers
from tests.fuzz.seeds import JURISDICTION, Seeded
from tests.support.apps import app_of, created_id
from tests.support.events import deliver, system_data, unit_data, upstream_event
from tests.support.fixtures import TokenFactory, auth

SHA = "0" * 64


async def _feed(app: FastAPI, type_: str, data: dict[str, object]) -> None:
    event = upstream_event(type_, data, time=datetime.now(UTC))
    for consumer in consumers(app):
        if consumer.subject.rsplit(".", 1)[0] == type_.rsplit(".", 1)[0]:
            await deliver(app, consumer.handle_once, event)


async def seed(client: httpx.AsyncClient, token: TokenFactory) -> Seeded:
    app = app_of(client)
    unit, co, system = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for ident, name in ((unit, "临汾市水利局信息中心"), (co, "临汾市水文水资源勘测站")):
        await _feed(app, "govit.registry.unit.registered", unit_data(ident, JURISDICTION, name))
    system_registered = system_data(system, unit, JURISDICTION, resource_count=1)
    system_registered |= {"name": "水资源监测预警系统", "mlps_level": 2}
    await _feed(app, "govit.registry.system.registered", system_registered)
    owner = auth(token(roles=["unit"], org=unit, jurisdiction=JURISDICTION))
    authority = auth(token(roles=["authority"], jurisdiction=JURISDICTION))
    year = datetime.now(UTC).year
    body = {
        "name": "水资源监测预警系统升级项目",
        "org": str(unit),
        "delivery": "self_build",
        "kind": "new",
        "total_investment": "1000000.00",
        "annual_budgets": [{"year": year, "amount": "1000000.00"}],
        "system_ids": [str(system)],
        "co_orgs": [str(co)],
    }

    async def project(stage: str) -> str:
        ident = created_id(await client.post("/api/v1/projects", json=body, headers=owner))
        if stage == "draft":
            return ident
        for material in (
            "proposal",
            "feasibility_study",
            "preliminary_design",
            "investment_estimate",
        ):
            response = await client.post(
                f"/api/v1/projects/{ident}/materials",
                json={"type": material, "title": f"{material}.pdf", "sha256": SHA},
                headers=owner,
            )
            assert response.status_code == 201, response.text
        response = await client.post(f"/api/v1/projects/{ident}/submit", headers=owner)
        assert response.status_code == 200, response.text
        if stage == "submitted":
            return ident
        decision = {
            "outcome": "approved",
            "approved_total": "1000000.00",
            "approved_annual_budgets": [{"year": year, "amount": "1000000.00"}],
        }
        response = await client.post(
            f"/api/v1/projects/{ident}/decision", json=decision, headers=authority
        )
        assert response.status_code == 200, response.text
        return ident

    projects = [await project(stage) for stage in ("draft", "submitted", "approved")]
    change = {
        "new_total": "1000000.00",
        "adjusted_amount": "10.00",
        "goals_changed": False,
        "content": "调整建设内容",
        "reason": "技术方案优化",
    }
    response = await client.post(
        f"/api/v1/projects/{projects[2]}/changes", json=change, headers=owner
    )
    assert response.status_code == 201, response.text
    return Seeded(
        unit_org=str(unit),
        known={
            "project_id": projects,
            "change_id": [response.json()["id"]],
            "org": [str(unit)],
            "co_orgs": [str(co)],
        },
    )
