"""What the filing fuzz starts from: an approved project (fed to the service's own
projection handler, as approval's event would be), a contract filing, an acceptance
delay to review, and a recorded acceptance with its report obligation."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from tests.filing.conftest import docs, project_data, publish_project
from tests.fuzz.seeds import JURISDICTION, Seeded
from tests.support.fixtures import TokenFactory, auth


async def _created(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    ident: str = response.json()["id"]
    return ident


async def seed(client: httpx.AsyncClient, token: TokenFactory) -> Seeded:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    unit = uuid.uuid4()
    project = project_data(unit, JURISDICTION, planned_completion_on="2026-06-30")
    await publish_project(app, project)
    pid = project["id"]
    owner = auth(token(roles=["unit"], org=unit, jurisdiction=JURISDICTION))
    authority = auth(token(roles=["authority"], jurisdiction=JURISDICTION))
    base = {"project_id": pid, "event_date": "2026-09-30", "filed_on": "2026-10-09"}
    contract = await _created(
        await client.post(
            "/api/v1/filings",
            json={**base, "type": "contract", "documents": docs("contract")},
            headers=owner,
        )
    )
    delay = await _created(
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
    acceptance = await _created(
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
