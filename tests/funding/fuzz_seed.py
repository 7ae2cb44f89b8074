"""What the funding fuzz starts from: an approved linfen-water project with both gates
open (its projection fed through the consumers' own handlers, as events would), an
effective allocation and one disbursement, so generated requests reach past 404."""

from __future__ import annotations

import httpx

from shared.clock import FixedClock
from tests.funding.conftest import (
    NOW,
    allocate,
    disbursement,
    everything_filed,
    feed,
    key,
    new_project,
)
from tests.fuzz.seeds import JURISDICTION, Seeded
from tests.support.apps import app_of
from tests.support.fixtures import TokenFactory, auth


async def seed(client: httpx.AsyncClient, token: TokenFactory) -> Seeded:
    app = app_of(client)
    app.state.clock = FixedClock(NOW)
    project = new_project(JURISDICTION)
    await feed(app, *everything_filed(project))
    finance = auth(token(roles=["finance"], jurisdiction=JURISDICTION))
    await allocate(client, finance, project, "50000.00")
    made = await client.post(
        "/api/v1/disbursements", json=disbursement(project, "100.00"), headers=finance | key()
    )
    assert made.status_code == 201, made.text
    return Seeded(
        unit_org=str(project.org),
        known={"project_id": [str(project.id)], "profile": [JURISDICTION]},
    )
