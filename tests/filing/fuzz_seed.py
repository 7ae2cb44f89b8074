"""What the filing fuzz starts from: an approved project (fed to the service's own
projection handler, as approval's event would be), a contract filing, an acceptance
delay to review, and a recorded acceptance with its report obligation."""

from __future__ import annotations

import uuid

import httpx

from tests.filing.conftest import docs, project_data, publish_project
from tests.fuzz.seeds import JURISDICTION, Seeded
from tests.support.apps import app_of, created_id
from tests.support.fixtures import TokenFactory, auth


async def seed(client: httpx.AsyncClient, token: TokenFactory) -> Seeded:
    app = app_of(client)
    unit = uuid.uuid4()
    project = project_data(unit, JURISDICTION, planned_completion_on="2026-06-30")
    await publish_project(app, project)
    pid = project["id"]
    owner = auth(token(roles=["unit"], org=unit, jurisdiction=JURISDICTION))
    authority = auth(token(roles=["authority"], jurisdiction=JURISDICTION))
    base = {"project_id": pid, "event_date": "2026-09-30", "filed_on": "2026-10-09"}
    contract = created_id(
        await client.post(
            "/api/v1/filings",
            json={**base, "type": "contract", "documents": docs("contract")},
            headers=owner,
        )
    )
    delay = created_id(
        await client.post(
            "/api/v1/filings",
            json={
                **base,
                "type": "acceptance_delay",
                "documents": docs("delay_application"),
                "requested_until": "2027-03-31",
                "reason": "第三方测评尚未完成",
            },
            headers=owner,
        )
    )
    acceptance = created_id(
        await client.post(
            "/api/v1/acceptances",
            json={"project_id": pid, "accepted_on": "2026-11-02", "passed": True},
            headers=authority,
        )
    )
    return Seeded(
        unit_org=str(unit),
        known={
            "project_id": [pid],
            "filing_id": [contract, delay],
            "org": [str(unit)],
            "acceptance_id": [acceptance],
        },
    )
