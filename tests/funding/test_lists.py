"""The disbursement list on the fast read path: keyset pages that walk every readable
movement once, in id order, the project filter, the shared access rule (a unit its own
and its co-built projects', finance its jurisdiction's) and refused query strings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import insert

from services.funding.models import movements
from tests.support.checks import problem
from tests.support.fixtures import TokenFactory, auth

J = "linfen-water"


def _movement(org: uuid.UUID, project: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "project_id": project,
        "org": org,
        "co_orgs": [],
        "jurisdiction": J,
        "kind": "disbursement",
        "category": "construction",
        "year": 2026,
        "amount": Decimal("100.50"),
        "reason": None,
        "created_by": "finance",
        "created_at": datetime(2026, 6, 1, 2, 0, tzinfo=UTC),
        **overrides,
    }


async def test_disbursement_pages_walk_every_readable_movement_once(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    unit, co, stranger = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    one, two, theirs = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    rows = [_movement(unit, one) for _ in range(4)] + [
        _movement(unit, two, co_orgs=[co], kind="return", amount=Decimal("-20.00"), reason="余额"),
        _movement(stranger, theirs),
        _movement(stranger, theirs, jurisdiction="leshan"),
    ]
    async with funding_app.state.db.transaction() as s:
        await s.execute(insert(movements), rows)
    as_unit = auth(token(roles=["unit"], org=unit, jurisdiction=J))

    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/disbursements", params=params, headers=as_unit)).json()
        assert len(page["items"]) <= 2
        items += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    mine = sorted(str(r["id"]) for r in rows[:5])
    assert [m["id"] for m in items] == mine  # each once, in id order
    returned = next(m for m in items if m["kind"] == "return")
    assert returned == {
        "id": str(rows[4]["id"]),
        "project_id": str(two),
        "kind": "return",
        "status": "returned",
        "category": "construction",
        "year": 2026,
        "amount": "-20.00",
        "reason": "余额",
        "created_at": "2026-06-01T02:00:00+00:00",  # as it always answered
    }
    assert {m["amount"] for m in items if m["kind"] == "disbursement"} == {"100.50"}

    by_project = await client.get(
        "/api/v1/disbursements", params={"project_id": str(two)}, headers=as_unit
    )
    assert [m["id"] for m in by_project.json()["items"]] == [str(rows[4]["id"])]
    # the shared access rule
    as_co = auth(token(roles=["unit"], org=co, jurisdiction=J))
    co_sees = (await client.get("/api/v1/disbursements", headers=as_co)).json()["items"]
    assert [m["id"] for m in co_sees] == [str(rows[4]["id"])]
    finance = auth(token(roles=["finance"], jurisdiction=J))
    all_here = (await client.get("/api/v1/disbursements", headers=finance)).json()["items"]
    assert len(all_here) == 6 and str(rows[6]["id"]) not in {m["id"] for m in all_here}
    as_stranger = auth(token(roles=["unit"], org=stranger, jurisdiction=J))
    theirs_only = (await client.get("/api/v1/disbursements", headers=as_stranger)).json()
    assert [m["id"] for m in theirs_only["items"]] == [str(rows[5]["id"])]

    problem(
        await client.get("/api/v1/disbursements?cursor=nope", headers=as_unit),
        422,
        "cursor_invalid",
    )
    for bad in ("limit=0", "limit=501", "project_id=x"):
        problem(
            await client.get(f"/api/v1/disbursements?{bad}", headers=as_unit),
            422,
            "validation_failed",
        )
