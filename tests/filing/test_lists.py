"""The filing lists on the fast read path (obligations, filings, overdue): keyset pages
that walk every readable row once, in id order, filters, the shared access rule and
refused query strings."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import insert, select

from services.filing.models import Obligation
from tests.filing.conftest import approved_project, cast, docs
from tests.support.checks import problem
from tests.support.fixtures import TokenFactory


async def _more_obligations(app: FastAPI, project: str, n: int) -> None:
    """``n`` copies of one of the project's obligations, each for its own period."""
    table = Obligation.__table__
    async with app.state.db.transaction() as s:
        query = select(table).where(table.c.project_id == uuid.UUID(project)).limit(1)
        row = (await s.execute(query)).mappings().one()
        copies = [{**row, "id": uuid.uuid4(), "period": f"copy-{i}"} for i in range(n)]
        await s.execute(insert(table), copies)


async def _walk(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], who: dict[str, str]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        r = await client.get(path, params=query, headers=who)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= params["limit"]
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_obligation_pages_walk_every_readable_row_once(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    c = cast(token, "leshan")
    project = await approved_project(filing_app, c)
    other = await approved_project(filing_app, cast(token, "leshan"))  # another unit's
    await _more_obligations(filing_app, project, 6)
    whole = await client.get("/api/v1/obligations", params={"limit": 200}, headers=c.a)
    everything = whole.json()["items"]
    assert len(everything) >= 7 and {o["project_id"] for o in everything} == {project}
    walked = await _walk(client, "/api/v1/obligations", {"limit": 3}, c.a)
    assert walked == everything
    assert [o["id"] for o in walked] == sorted(o["id"] for o in walked)  # UUIDv7/4 text order
    one = everything[0]
    assert set(one) == {
        "id", "project_id", "org", "jurisdiction", "type", "period", "rule", "due_on",
        "status", "met_by", "version",
    }  # fmt: skip
    # filters
    by_type = await client.get(
        "/api/v1/obligations", params={"type": one["type"], "limit": 200}, headers=c.a
    )
    assert {o["type"] for o in by_type.json()["items"]} == {one["type"]}
    assert len(by_type.json()["items"]) == sum(o["type"] == one["type"] for o in everything)
    none = await client.get("/api/v1/obligations", params={"project_id": other}, headers=c.a)
    assert none.json() == {"items": [], "next_cursor": None}
    # the shared access rule: another unit, another jurisdiction's authority see none of it
    for who in (c.b, c.foreign_authority):
        r = await client.get("/api/v1/obligations", params={"project_id": project}, headers=who)
        assert r.json()["items"] == [], r.text
    seen = await client.get(
        "/api/v1/obligations", params={"project_id": project, "limit": 200}, headers=c.authority
    )
    assert seen.json()["items"] == everything


async def test_filing_pages_and_refused_query_strings(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    c = cast(token, "jincheng")
    project = await approved_project(filing_app, c)
    for day in ("2026-09-28", "2026-09-29", "2026-09-30"):
        body = {
            "project_id": project,
            "type": "contract",
            "event_date": day,
            "filed_on": "2026-10-09",
            "documents": docs("contract"),
        }
        assert (await client.post("/api/v1/filings", json=body, headers=c.a)).status_code == 201
    walked = await _walk(client, "/api/v1/filings", {"limit": 2, "project_id": project}, c.a)
    assert sorted(f["event_date"] for f in walked) == ["2026-09-28", "2026-09-29", "2026-09-30"]
    assert all(f["documents"][0]["type"] == "contract" and f["review"] is None for f in walked)
    typed = await client.get("/api/v1/filings", params={"type": "supervisor"}, headers=c.a)
    assert typed.json()["items"] == []
    assert (await client.get("/api/v1/filings", headers=c.b)).json()["items"] == []
    problem(await client.get("/api/v1/filings?cursor=nope", headers=c.a), 422, "cursor_invalid")
    refused = problem(
        await client.get("/api/v1/obligations?limit=0", headers=c.a), 422, "validation_failed"
    )
    assert "query.limit" in str(refused)
    problem(
        await client.get("/api/v1/filings/overdue?type=nothing", headers=c.a),
        422,
        "validation_failed",
    )
