"""``Idempotency-Key`` (shared/idempotency.py) on the registry's POSTs, on the real database.

Sequential cases run in one rolled-back transaction; "in flight" and "two app
instances" need requests that really commit, so they run two registry apps on one
committed database.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text, update

from services.registry.app import build_app
from services.registry.models import Resource, System, events, idempotency_keys
from shared.idempotency import ExpiredKeysPurge
from tests.registry.conftest import (
    SOURCE,
    make_unit,
    registry_settings,
    resource_body,
    system_body,
)
from tests.support.apps import rolled_back_client
from tests.support.checks import problem, wait_until
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory, auth

J = "linfen-water"


@pytest.fixture(scope="module")
async def app(stack: Stack, databases: Databases, dev_keys: object) -> AsyncIterator[FastAPI]:
    url = await databases.migrated("registry")
    registry = build_app(registry_settings(stack, url, outbox_relay_enabled=False))
    async with registry.router.lifespan_context(registry):
        yield registry


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(app, SOURCE) as c:
        yield c


async def unit_and_token(
    client: httpx.AsyncClient, token: TokenFactory, name: str = "临汾市水利局信息中心"
) -> tuple[uuid.UUID, dict[str, str]]:
    admin = auth(token(roles=["admin"], jurisdiction=J))
    unit = await make_unit(client, admin, name, J)
    return unit, auth(token(roles=["unit"], org=unit, jurisdiction=J))


async def count(app: FastAPI, table: object, *where: object) -> int:
    async with app.state.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(*where)))


async def test_a_retry_with_the_same_key_replays_the_first_answer(
    client: httpx.AsyncClient, app: FastAPI, token: TokenFactory
) -> None:
    unit, headers = await unit_and_token(client, token)
    keyed = {**headers, "Idempotency-Key": "create-system-1"}
    first = await client.post("/api/v1/systems", json=system_body(unit), headers=keyed)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await client.post("/api/v1/systems", json=system_body(unit), headers=keyed)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    # One system, one revision, one event: the retry did nothing but answer.
    assert await count(app, System.__table__, System.org_id == unit) == 1
    registered = events.outbox.c.type == "govit.registry.system.registered"
    assert await count(app, events.outbox, registered) == 1


async def test_the_same_json_in_another_layout_is_the_same_request(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    unit, headers = await unit_and_token(client, token)
    keyed = {**headers, "Idempotency-Key": "layout", "Content-Type": "application/json"}
    body = system_body(unit)
    first = await client.post("/api/v1/systems", json=body, headers=keyed)
    assert first.status_code == 201, first.text
    reordered = dict(reversed(list(body.items())))
    spaced = json.dumps(reordered, indent=2, ensure_ascii=False).encode()
    again = await client.post("/api/v1/systems", content=spaced, headers=keyed)
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]


async def test_a_retried_upload_is_the_same_request_whatever_its_boundary(
    client: httpx.AsyncClient, app: FastAPI, token: TokenFactory
) -> None:
    """A client draws a new multipart boundary for each send: the retry of one import
    file is still the same request, and the catalogue is imported once."""
    unit, headers = await unit_and_token(client, token)
    header = ["org", "name", "status", "network", "cloud", "sharing_connected"]
    header += ["mlps_level", "crypto_assessed", "asset_registered"]
    values = [str(unit), "水资源监测预警系统", "operating", "extranet", "on_cloud", "true"]
    values += ["2", "true", "false"]
    data = ("\r\n".join([",".join(header), ",".join(values)]) + "\r\n").encode()
    keyed = {**headers, "Idempotency-Key": "import-1"}
    answers = []
    for boundary in ("first-boundary-1234", "second-boundary-5678"):
        files = {"file": ("catalogue.csv", data, "text/csv")}
        sent = {**keyed, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        request = client.build_request("POST", "/api/v1/systems:import", files=files)
        body = request.read().replace(
            request.headers["content-type"].split("=", 1)[1].encode(), boundary.encode()
        )
        answers.append(await client.post("/api/v1/systems:import", content=body, headers=sent))
    first, again = answers
    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await count(app, System.__table__, System.org_id == unit) == 1


async def test_the_same_key_with_another_body_is_refused(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    unit, headers = await unit_and_token(client, token)
    keyed = {**headers, "Idempotency-Key": "create-system-2"}
    first = await client.post("/api/v1/systems", json=system_body(unit), headers=keyed)
    assert first.status_code == 201, first.text
    other = system_body(unit, name="另一个系统")
    problem(
        await client.post("/api/v1/systems", json=other, headers=keyed),
        422,
        "idempotency_key_reused",
    )
    # ... and on another route, the same key is another key.
    response = await client.post(
        f"/api/v1/systems/{first.json()['id']}/resources", json=resource_body(), headers=keyed
    )
    assert response.status_code == 201, response.text


async def test_keys_belong_to_one_caller(client: httpx.AsyncClient, token: TokenFactory) -> None:
    unit_a, a = await unit_and_token(client, token)
    unit_b, b = await unit_and_token(client, token, "临汾市水文水资源勘测站")
    key = {"Idempotency-Key": "same-key"}
    first = await client.post("/api/v1/systems", json=system_body(unit_a), headers={**a, **key})
    second = await client.post("/api/v1/systems", json=system_body(unit_b), headers={**b, **key})
    assert first.status_code == second.status_code == 201, second.text
    assert first.json()["id"] != second.json()["id"]
    assert second.json()["org"] == str(unit_b)


async def test_a_refusal_is_not_kept_so_a_retry_runs_again(
    client: httpx.AsyncClient, app: FastAPI, token: TokenFactory
) -> None:
    admin = {**auth(token(roles=["admin"], jurisdiction=J)), "Idempotency-Key": "too-early"}
    body = system_body(uuid.uuid4())  # no such unit (yet): nothing is written
    for _ in range(2):
        refused = await client.post("/api/v1/systems", json=body, headers=admin)
        problem(refused, 422, "unit_unknown")
        assert "idempotent-replayed" not in refused.headers
    assert await count(app, idempotency_keys) == 0


async def test_an_expired_key_is_a_new_key(
    client: httpx.AsyncClient, app: FastAPI, token: TokenFactory
) -> None:
    unit, headers = await unit_and_token(client, token)
    keyed = {**headers, "Idempotency-Key": "old"}
    first = await client.post("/api/v1/systems", json=system_body(unit), headers=keyed)
    assert first.status_code == 201
    async with app.state.db.transaction() as session:
        await session.execute(
            update(idempotency_keys).values(expires_at=func.now() - text("interval '1 second'"))
        )
    other = await client.post(
        "/api/v1/systems", json=system_body(unit, name="新系统"), headers=keyed
    )
    assert other.status_code == 201, other.text
    assert other.json()["id"] != first.json()["id"]


@pytest.mark.parametrize("key", ["", "x" * 256, "含中文", "a b"])
async def test_a_malformed_key_is_refused(
    client: httpx.AsyncClient, token: TokenFactory, key: str
) -> None:
    unit, headers = await unit_and_token(client, token)
    response = await client.post(
        "/api/v1/systems",
        json=system_body(unit),
        headers=[*headers.items(), ("Idempotency-Key", key.encode())],
    )
    problem(response, 422, "idempotency_key_invalid")


async def test_the_header_is_in_the_openapi_document(app: FastAPI) -> None:
    operation = app.openapi()["paths"]["/api/v1/systems"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in operation["parameters"]}


# --- two app instances on one committed database -------------------------------------------


@asynccontextmanager
async def two_instances(
    stack: Stack, url: str
) -> AsyncIterator[tuple[FastAPI, list[httpx.AsyncClient]]]:
    """Two registry apps on the committed database ``url``: (the second app, a client of each)."""
    async with AsyncExitStack() as stack_:
        clients = []
        for _ in range(2):
            instance = build_app(registry_settings(stack, url, outbox_relay_enabled=False))
            await stack_.enter_async_context(instance.router.lifespan_context(instance))
            transport = httpx.ASGITransport(app=instance)
            c = httpx.AsyncClient(transport=transport, base_url="http://registry")
            clients.append(await stack_.enter_async_context(c))
        yield instance, clients


async def test_in_flight_and_replay_across_two_app_instances(
    stack: Stack, databases: Databases, dev_keys: object, token: TokenFactory
) -> None:
    url = await databases.migrated("registry")
    async with two_instances(stack, url) as (instance, clients):
        one, two = clients
        unit, headers = await unit_and_token(one, token)
        created = await one.post("/api/v1/systems", json=system_body(unit), headers=headers)
        assert created.status_code == 201, created.text
        system_id = created.json()["id"]
        path = f"/api/v1/systems/{system_id}/resources"
        keyed = {**headers, "Idempotency-Key": "add-resource-1"}
        database = instance.state.db

        # Hold the system's row: the first request claims its key, then waits here.
        async with database.engine.connect() as blocker:
            await blocker.begin()
            await blocker.execute(
                select(System.id).where(System.id == uuid.UUID(system_id)).with_for_update()
            )
            first = asyncio.create_task(one.post(path, json=resource_body(), headers=keyed))

            async def claimed() -> bool:
                return await count(instance, idempotency_keys) == 1

            await wait_until(claimed, what="the first request claims its key")
            problem(
                await two.post(path, json=resource_body(), headers=keyed),
                409,
                "idempotency_key_in_flight",
            )
            await blocker.rollback()
        answered = await asyncio.wait_for(first, timeout=30)
        assert answered.status_code == 201, answered.text

        replayed = await two.post(path, json=resource_body(), headers=keyed)
        assert replayed.status_code == 201
        assert replayed.json() == answered.json()
        assert replayed.headers["idempotent-replayed"] == "true"
        assert await count(instance, Resource.__table__) == 1


async def test_concurrent_duplicates_run_once(
    stack: Stack, databases: Databases, dev_keys: object, token: TokenFactory
) -> None:
    """Many copies of one request at once: one creates, the others see it in flight or
    get its answer; never two systems."""
    url = await databases.migrated("registry")
    async with two_instances(stack, url) as (instance, clients):
        unit, headers = await unit_and_token(clients[0], token)
        keyed = {**headers, "Idempotency-Key": "burst"}
        responses = await asyncio.gather(
            *(
                clients[n % 2].post("/api/v1/systems", json=system_body(unit), headers=keyed)
                for n in range(8)
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {201, 409}, [r.text for r in responses]
        assert len({r.json()["id"] for r in responses if r.status_code == 201}) == 1
        assert await count(instance, System.__table__) == 1


async def test_expired_keys_are_purged_by_the_apps_worker_and_live_ones_kept(
    app: FastAPI,
) -> None:
    """The table does not only grow: the worker every service app runs deletes what
    has expired, and nothing that is still replayed or in flight."""
    [purge] = [w for w in app.state.workers.workers.values() if isinstance(w, ExpiredKeysPurge)]
    caller = f"purge-{uuid.uuid4()}"
    now, hour = func.now(), text("interval '1 hour'")
    rows = {  # key: expires_at
        "expired": now - hour,
        "answered": now + hour,
        "in-flight": now + hour,
    }
    async with app.state.db.transaction() as session:
        for key, expires_at in rows.items():
            await session.execute(
                idempotency_keys.insert().values(
                    caller=caller,
                    route="POST /api/v1/systems",
                    key=key,
                    fingerprint="f",
                    status=None if key == "in-flight" else 201,
                    locked_until=now + hour,
                    expires_at=expires_at,
                )
            )
    assert await purge.attempt() >= 1
    async with app.state.db.sessions() as session:
        kept = set(
            await session.scalars(
                select(idempotency_keys.c.key).where(idempotency_keys.c.caller == caller)
            )
        )
    assert kept == {"answered", "in-flight"}
    assert purge.health.state == "running"


async def test_a_failed_purge_is_tried_again_soon_and_then_reads_ready_again() -> None:
    class Flaky:
        calls = 0

        async def purge(self) -> int:
            self.calls += 1
            if self.calls == 1:
                raise ConnectionError("the database went away")
            return 3

    purge = ExpiredKeysPurge(Flaky(), every_seconds=3600, retry_seconds=30)  # type: ignore[arg-type]
    assert purge.next_wait() == 3600
    assert await purge.attempt() == 0
    assert purge.health.state == "failing" and "went away" in purge.health.describe()
    assert purge.next_wait() == 30
    assert await purge.attempt() == 3
    assert purge.health.state == "running" and purge.next_wait() == 3600
