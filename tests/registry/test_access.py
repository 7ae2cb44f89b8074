"""Access in the registry: the suite's rule on the real tables (its SQL clause and its
predicate agree for every role × record), the two platforms told apart by scope,
tokens whose jurisdiction is not their unit's, and admins scoped to theirs."""

from __future__ import annotations

import itertools
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.registry import domain
from services.registry.models import System, Unit
from shared.auth import Level, Principal, Role, allows, cli
from shared.auth.access_sql import access_clause
from tests.registry.conftest import (
    Actors,
    all_outbox_events,
    create_system,
    make_unit,
    problem,
    system_body,
    unit_in,
)
from tests.support.fixtures import AUDIENCE, ISSUER, Stack, TokenFactory, auth

ROLE_SETS = [*({role} for role in Role), {Role.UNIT, Role.PLATFORM}, {Role.UNIT, Role.ADMIN}]


async def test_the_rule_agrees_with_its_sql_on_the_registrys_tables(
    client: httpx.AsyncClient, actors: Actors, token: TokenFactory, registry_app: FastAPI
) -> None:
    c, c_headers = await unit_in(client, token, "jincheng", "晋城市大数据应用局")
    for org, headers in [(actors.unit_a, actors.a), (actors.unit_b, actors.b), (c, c_headers)]:
        await create_system(client, headers, org)
        await create_system(client, headers, org, name="第二个系统", status="building")
    orgs = [str(actors.unit_a), str(actors.unit_b), str(c), str(uuid.UUID(int=0)), "x"]
    async with registry_app.state.db.sessions() as session:
        systems = (await session.scalars(select(System))).all()
        units = (await session.scalars(select(Unit))).all()
        assert (len(systems), len(units)) == (6, 3)
        checked = granted = 0
        combos = itertools.product(ROLE_SETS, orgs, ["linfen-water", "jincheng"], Level)
        for roles, org, jurisdiction, level in combos:
            who = Principal("tester", org, jurisdiction, frozenset(roles))
            for entity, rows, kind in [
                (System, systems, domain.SYSTEMS),
                (Unit, units, domain.UNITS),
            ]:
                query = select(entity.id).where(access_clause(who, entity, kind, level))
                in_sql = set((await session.scalars(query)).all())
                in_python = {row.id for row in rows if allows(who, row, kind, level)}
                assert in_sql == in_python, (entity.__name__, sorted(roles), org, jurisdiction)
                checked += 1
                granted += len(in_sql)
    assert checked == len(ROLE_SETS) * len(orgs) * 2 * 2 * 2 and granted > 0


# --- the two platforms -----------------------------------------------------------------


def make_token(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str
) -> dict[str, str]:
    """What ``make token ...`` prints, signed with this test run's development key."""
    monkeypatch.setenv("GOVIT_HOME", str(stack.root))
    monkeypatch.setenv("GOVIT_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("GOVIT_JWT_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("GOVIT_ENVIRONMENT", "test")
    capsys.readouterr()
    assert cli.main(["token", *argv]) == 0
    return auth(capsys.readouterr().out.strip())


async def test_only_the_government_cloud_platform_reports_migration_state(
    client: httpx.AsyncClient,
    actors: Actors,
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, cloud="migrating")
    path = f"/api/v1/systems/{system['id']}"
    # make token ROLE=platform SUB=… ORG=… JURISDICTION=linfen-water
    platform = ["--role", "platform", "--org", str(actors.unit_b), "--jurisdiction"]
    gov_cloud, online = (
        make_token(stack, monkeypatch, capsys, *platform, "linfen-water", "--sub", sub)
        for sub in ("platform:gov-cloud", "platform:online-services")
    )

    refused = await client.patch(path, json={"cloud": "on_cloud"}, headers=online)
    body = problem(refused, 403, "scope_required")
    assert body["required_scope"] == "registry:cloud:write"
    assert (await client.get(path, headers=online)).json()["cloud"] == "migrating"
    assert (await client.get(path, headers=online)).status_code == 200, "it still reads"

    moved = await client.patch(path, json={"cloud": "on_cloud"}, headers=gov_cloud)
    assert moved.status_code == 200, moved.text
    assert moved.json()["cloud"] == "on_cloud"
    assert moved.json()["facts"]["on_cloud"] is True
    other = await client.patch(path, json={"cloud": "on_cloud", "name": "x"}, headers=gov_cloud)
    assert problem(other, 403, "field_not_permitted")["fields"] == ["name"]


async def test_a_scope_does_not_make_another_role_a_platform(
    client: httpx.AsyncClient, actors: Actors, token: TokenFactory
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, cloud="migrating")
    scoped = auth(
        token(roles=["authority"], jurisdiction="linfen-water", scopes=("registry:cloud:write",))
    )
    response = await client.patch(
        f"/api/v1/systems/{system['id']}", json={"cloud": "on_cloud"}, headers=scoped
    )
    problem(response, 403, "forbidden")


# --- a token's jurisdiction must be its unit's -----------------------------------------


async def test_a_token_whose_jurisdiction_is_not_its_units_writes_nothing(
    client: httpx.AsyncClient, token: TokenFactory, registry_app: FastAPI
) -> None:
    """The reported case: org = a jincheng unit, jurisdiction = leshan."""
    unit, own = await unit_in(client, token, "jincheng", "晋城市行政审批局")
    existing = await create_system(client, own, unit)
    before = len(await all_outbox_events(registry_app))
    for roles in (["unit"], ["admin"], ["authority"], ["platform"]):
        wrong = auth(token(roles=roles, org=unit, jurisdiction="leshan"))
        created = await client.post("/api/v1/systems", json=system_body(unit), headers=wrong)
        body = problem(created, 403, "token_jurisdiction_mismatch")
        assert (body["token_jurisdiction"], body["unit_jurisdiction"]) == ("leshan", "jincheng")
        path = f"/api/v1/systems/{existing['id']}"
        problem(await client.patch(path, json={"name": "改"}, headers=wrong), 403)
        problem(await client.get(path, headers=wrong), 403, "token_jurisdiction_mismatch")
        problem(await client.get("/api/v1/units", headers=wrong), 403)
    assert len(await all_outbox_events(registry_app)) == before, "nothing was written"
    listed = await client.get("/api/v1/systems", headers=own)
    assert [s["id"] for s in listed.json()["items"]] == [existing["id"]]


# --- admins are scoped to their jurisdiction ---------------------------------------------


async def test_an_admin_changes_nothing_in_another_jurisdiction(
    client: httpx.AsyncClient, actors: Actors, token: TokenFactory
) -> None:
    leshan_admin = auth(token(roles=["admin"], jurisdiction="leshan"))
    system = await create_system(client, actors.a, actors.unit_a)
    path = f"/api/v1/systems/{system['id']}"
    problem(await client.get(path, headers=leshan_admin), 404, "not_found")
    problem(await client.patch(path, json={"name": "改"}, headers=leshan_admin), 404)
    resource = {
        "name": "水位",
        "source": "监测",
        "format": "csv",
        "update_frequency": "daily",
        "share_type": "none",
        "open_type": "none",
    }
    problem(await client.post(f"{path}/resources", json=resource, headers=leshan_admin), 404)
    listed = await client.get("/api/v1/systems", headers=leshan_admin)
    assert listed.json()["items"] == []
    created = await client.post(
        "/api/v1/systems", json=system_body(actors.unit_a), headers=leshan_admin
    )
    problem(created, 403, "jurisdiction_not_permitted")
    # Its own jurisdiction is its to run.
    leshan = await make_unit(client, leshan_admin, "乐山市大数据中心", "leshan")
    await create_system(client, leshan_admin, leshan)
