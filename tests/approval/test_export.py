"""The annual project list (leshan:17) and Idempotency-Key on the POSTs that move state."""

from __future__ import annotations

import csv
import io

import httpx
from openpyxl import load_workbook

from tests.approval.conftest import World, approved, create, submitted
from tests.support.checks import problem


async def test_the_annual_list_has_every_project_approved_that_year(
    client: httpx.AsyncClient, leshan: World
) -> None:
    first = await approved(client, leshan)
    second = await approved(client, leshan, name="第二个项目")
    await submitted(client, leshan, name="未批复项目")
    response = await client.get("/api/v1/projects:export?year=2026", headers=leshan.authority)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["number"] for r in rows] == [first["number"], second["number"]]
    assert rows[0]["approved_total"] == "6000000.00"
    assert rows[0]["approved_budget_of_year"] == "4000000.00"
    assert rows[0]["org"] == str(leshan.lead) and rows[0]["unit_name"] == "某局"
    empty = await client.get("/api/v1/projects:export?year=2025", headers=leshan.authority)
    assert list(csv.DictReader(io.StringIO(empty.content.decode("utf-8-sig")))) == []
    theirs = await client.get("/api/v1/projects:export?year=2026", headers=leshan.stranger_unit)
    assert list(csv.DictReader(io.StringIO(theirs.content.decode("utf-8-sig")))) == []
    other = await client.get("/api/v1/projects:export?year=2026", headers=leshan.other_authority)
    assert list(csv.DictReader(io.StringIO(other.content.decode("utf-8-sig")))) == []
    xlsx = await client.get(
        "/api/v1/projects:export?year=2026&format=xlsx", headers=leshan.authority
    )
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    assert sheet is not None
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "number" and values[1][0] == first["number"]
    problem(await client.get("/api/v1/projects:export", headers=leshan.authority), 422)
    problem(
        await client.get("/api/v1/projects:export?year=2026&format=pdf", headers=leshan.authority),
        422,
    )


async def test_a_retried_post_is_answered_once(client: httpx.AsyncClient, leshan: World) -> None:
    from tests.approval.conftest import project_body

    headers = {**leshan.unit, "Idempotency-Key": "create-1"}
    body = project_body(leshan)
    first = await client.post("/api/v1/projects", json=body, headers=headers)
    again = await client.post("/api/v1/projects", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    listed = (await client.get("/api/v1/projects", headers=leshan.unit)).json()["items"]
    assert len(listed) == 1
    other = await client.post("/api/v1/projects", json={**body, "name": "另一个"}, headers=headers)
    problem(other, 422, "idempotency_key_reused")
    project = await create(client, leshan)
    from tests.approval.conftest import add_materials

    await add_materials(client, leshan, project["id"])
    submit = {**leshan.unit, "Idempotency-Key": "submit-1"}
    path = f"/api/v1/projects/{project['id']}/submit"
    assert (await client.post(path, headers=submit)).status_code == 200
    assert (await client.post(path, headers=submit)).status_code == 200  # replayed
    history = await client.get(f"/api/v1/projects/{project['id']}/history", headers=leshan.unit)
    assert [h["action"] for h in history.json()["items"]].count("submitted") == 1
