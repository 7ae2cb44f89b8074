"""Background catalogue imports: ``POST /systems:import`` with ``Prefer: respond-async``
answers 202, the import worker runs the import, ``GET /imports/{id}`` reads its state.

The worker commits in its own transactions, so these tests run a registry on a fresh
database where requests really commit (``fresh_registry``), with the worker on (it
polls every 50 ms) or off (the test runs its passes itself).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from services.registry import import_worker
from services.registry.api import _prefers_async
from services.registry.import_worker import MAX_ATTEMPTS, ImportWorker
from services.registry.models import Import, System, events
from services.registry.schemas import ImportStatus
from services.registry.spreadsheets import COLUMNS, XLSX_MEDIA_TYPE
from tests.registry.conftest import fresh_registry, make_unit
from tests.registry.test_import_export import IMPORT, csv_file, errors_of, listed, row, xlsx_file
from tests.support.checks import problem, wait_until
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory, auth

ASYNC = {"Prefer": "respond-async"}
REGISTERED = "govit.registry.system.registered"


@dataclass
class Cast:
    unit_a: uuid.UUID
    a: dict[str, str]
    a_colleague: dict[str, str]  # another caller of unit a
    b: dict[str, str]  # a caller of another unit, same jurisdiction
    admin: dict[str, str]
    authority: dict[str, str]
    other_admin: dict[str, str]  # another jurisdiction's admin


async def cast_of(client: httpx.AsyncClient, token: TokenFactory) -> Cast:
    j = "linfen-water"
    admin = auth(token(roles=["admin"], jurisdiction=j))
    unit_a = await make_unit(client, admin, "临汾市水利局信息中心", j)
    unit_b = await make_unit(client, admin, "临汾市水文水资源勘测站", j)
    return Cast(
        unit_a=unit_a,
        a=auth(token(roles=["unit"], org=unit_a, jurisdiction=j)),
        a_colleague=auth(token(roles=["unit"], org=unit_a, jurisdiction=j)),
        b=auth(token(roles=["unit"], org=unit_b, jurisdiction=j)),
        admin=admin,
        authority=auth(token(roles=["authority"], jurisdiction=j)),
        other_admin=auth(token(roles=["admin"], jurisdiction="jincheng")),
    )


@pytest.fixture
async def running(
    stack: Stack, databases: Databases, dev_keys: object, token: TokenFactory
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Cast]]:
    """A registry whose import worker runs (every 50 ms), on a committed database."""
    async with fresh_registry(
        stack, databases, outbox_relay_enabled=False, import_poll_seconds=0.05
    ) as (app, client):
        yield app, client, await cast_of(client, token)


@pytest.fixture
async def idle(
    stack: Stack, databases: Databases, dev_keys: object, token: TokenFactory
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Cast]]:
    """The same without the worker: imports stay queued until the test runs a pass."""
    async with fresh_registry(
        stack, databases, outbox_relay_enabled=False, import_worker_enabled=False
    ) as (app, client):
        yield app, client, await cast_of(client, token)


async def send(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    data: bytes,
    *,
    kind: str = "csv",
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    media_type = "text/csv" if kind == "csv" else XLSX_MEDIA_TYPE
    all_headers = {**headers, **ASYNC, "Content-Type": media_type, **(extra or {})}
    return await client.post(IMPORT, content=data, headers=all_headers)


def queued(response: httpx.Response) -> str:
    """The 202's import id, after checking the answer's shape and headers."""
    assert response.status_code == 202, response.text
    body = response.json()
    ImportStatus.model_validate(body)
    assert body["state"] == "queued"
    assert (body["imported"], body["errors"], body["error_count"]) == (0, [], 0)
    assert body["started_at"] is None and body["finished_at"] is None
    assert response.headers["Location"] == f"/api/v1/imports/{body['id']}"
    assert response.headers["Content-Type"] == "application/json"
    ident: str = body["id"]
    return ident


async def status(client: httpx.AsyncClient, headers: dict[str, str], ident: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/imports/{ident}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    ImportStatus.model_validate(body)
    return body


async def finished(
    client: httpx.AsyncClient, headers: dict[str, str], ident: str
) -> dict[str, Any]:
    """Poll ``GET /imports/{id}`` until the import is done or refused."""
    last: dict[str, Any] = {}

    async def over() -> bool:
        last.update(await status(client, headers, ident))
        return last["state"] in ("done", "refused")

    await wait_until(over, what=f"import {ident} finished")
    return last


async def stored_file(app: FastAPI, ident: str) -> bytes | None:
    async with app.state.db.transaction() as session:
        data: bytes | None = await session.scalar(
            select(Import.file).where(Import.id == uuid.UUID(ident))
        )
        return data


async def count(app: FastAPI, statement: Any) -> int:
    async with app.state.db.transaction() as session:
        return int(await session.scalar(statement) or 0)


def three_rows(org: uuid.UUID) -> list[dict[str, object]]:
    return [
        row(org),
        row(org, name="防汛抗旱指挥系统", status="building"),
        row(org, name="办公自动化系统", status="planned", cloud="not_migrated"),
    ]


# --- the happy path -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
async def test_a_queued_import_is_answered_202_then_done_with_its_systems_stored(
    running: tuple[FastAPI, httpx.AsyncClient, Cast], kind: str
) -> None:
    app, client, cast = running
    rows = three_rows(cast.unit_a)
    data = csv_file(rows) if kind == "csv" else xlsx_file(rows)
    response = await send(client, cast.a, data, kind=kind)
    ident = queued(response)
    assert response.headers["Preference-Applied"] == "respond-async"

    done = await finished(client, cast.a, ident)
    assert done["state"] == "done", done
    assert (done["imported"], done["errors"], done["error_count"]) == (3, [], 0)
    assert done["encoding"] == ("utf-8" if kind == "csv" else None)
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]

    names = sorted(s["name"] for s in await listed(client, cast.a))
    assert names == ["办公自动化系统", "水资源监测预警系统", "防汛抗旱指挥系统"]
    registered = events.outbox.c.type == REGISTERED
    assert await count(app, select(func.count()).where(registered)) == 3
    assert await stored_file(app, ident) is None, "the file is cleared once finished"


async def test_without_the_preference_the_import_still_finishes_in_the_request(
    running: tuple[FastAPI, httpx.AsyncClient, Cast],
) -> None:
    app, client, cast = running
    response = await client.post(
        IMPORT,
        content=csv_file(three_rows(cast.unit_a)),
        headers={**cast.a, "Content-Type": "text/csv", "Prefer": "return=minimal"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["imported"] == 3
    assert "Preference-Applied" not in response.headers
    assert await count(app, select(func.count()).select_from(Import)) == 0


@pytest.mark.parametrize(
    ("prefer", "applies"),
    [
        ("respond-async", True),
        ("Respond-Async", True),
        ("wait=10, respond-async", True),
        ("respond-async; foo=bar", True),
        ("return=minimal", False),
        ("respond-asynchronously", False),
        ("", False),
        (None, False),
    ],
)
def test_the_prefer_header_is_read_as_rfc_7240_lists_it(prefer: str | None, applies: bool) -> None:
    assert _prefers_async(prefer) is applies


# --- refusals -------------------------------------------------------------------------------


async def test_bad_rows_are_refused_with_the_errors_a_synchronous_import_gives(
    running: tuple[FastAPI, httpx.AsyncClient, Cast],
) -> None:
    app, client, cast = running
    rows = [
        row(cast.unit_a, name="一"),
        row(cast.unit_a, name="二", status="live"),  # row 3
        row(cast.unit_a, name="三", mlps_level="9", sharing_connected="可能"),  # row 4
    ]
    data = csv_file(rows)
    synchronous = await client.post(
        IMPORT, content=data, headers={**cast.a, "Content-Type": "text/csv"}
    )
    assert errors_of(synchronous) == [(3, "status"), (4, "mlps_level"), (4, "sharing_connected")]

    ident = queued(await send(client, cast.a, data))
    refused = await finished(client, cast.a, ident)
    assert refused["state"] == "refused"
    assert refused["errors"] == synchronous.json()["errors"]
    assert refused["error_count"] == synchronous.json()["error_count"] == 3
    assert refused["imported"] == 0
    assert await listed(client, cast.a) == []
    assert await count(app, select(func.count()).select_from(System)) == 0
    assert await count(app, select(func.count()).select_from(events.outbox)) == 2  # the units
    assert await stored_file(app, ident) is None


async def test_a_refusal_of_the_whole_file_is_one_error_with_its_code(
    running: tuple[FastAPI, httpx.AsyncClient, Cast],
) -> None:
    _, client, cast = running
    data = xlsx_file([row(cast.unit_a, name="长" * 40_000)])  # longer than any catalogue cell
    synchronous = await client.post(
        IMPORT, content=data, headers={**cast.a, "Content-Type": XLSX_MEDIA_TYPE}
    )
    code = problem(synchronous, 413, "cell_too_long")["code"]

    ident = queued(await send(client, cast.a, data, kind="xlsx"))
    refused = await finished(client, cast.a, ident)
    assert refused["state"] == "refused"
    [error] = refused["errors"]
    assert (error["row"], error["column"], error["code"]) == (None, None, code)
    assert error["message"] == synchronous.json()["detail"]
    assert error["message_zh"] == synchronous.json()["message_zh"]
    assert refused["error_count"] == 1


async def test_what_is_checked_at_upload_is_answered_at_once_and_queues_nothing(
    idle: tuple[FastAPI, httpx.AsyncClient, Cast],
) -> None:
    app, client, cast = idle
    data = csv_file([row(cast.unit_a)])
    problem(await send(client, cast.authority, data), 403, "role_required")
    files = {"upload": ("catalogue.csv", data, "text/csv")}
    missing = await client.post(IMPORT, files=files, headers={**cast.a, **ASYNC})
    problem(missing, 422, "file_missing")
    assert await count(app, select(func.count()).select_from(Import)) == 0


# --- Idempotency-Key ------------------------------------------------------------------------


async def test_a_retried_async_import_queues_one_import_and_answers_the_same(
    idle: tuple[FastAPI, httpx.AsyncClient, Cast],
) -> None:
    app, client, cast = idle
    data = csv_file(three_rows(cast.unit_a))
    keyed = {"Idempotency-Key": "catalogue-2026-11"}
    first = await send(client, cast.a, data, extra=keyed)
    again = await send(client, cast.a, data, extra=keyed)
    ident = queued(first)
    assert queued(again) == ident
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["Preference-Applied"] == "respond-async"  # replayed with the 202
    assert await count(app, select(func.count()).select_from(Import)) == 1

    assert await ImportWorker(app, 1, 60).finish_waiting(app.state.db) == 1
    retried_after = await send(client, cast.a, data, extra=keyed)
    assert queued(retried_after) == ident  # still the first answer: nothing imported twice
    assert await count(app, select(func.count()).select_from(Import)) == 1
    assert await count(app, select(func.count()).select_from(System)) == 3


# --- who reads an import ----------------------------------------------------------------------


async def test_only_the_importing_unit_and_its_jurisdictions_admin_read_an_import(
    idle: tuple[FastAPI, httpx.AsyncClient, Cast], token: TokenFactory
) -> None:
    _, client, cast = idle
    ident = queued(await send(client, cast.a, csv_file([row(cast.unit_a)])))
    for reader in (cast.a, cast.a_colleague, cast.admin):
        assert (await status(client, reader, ident))["state"] == "queued"
    path = f"/api/v1/imports/{ident}"
    for stranger in (cast.b, cast.authority, cast.other_admin):
        problem(await client.get(path, headers=stranger), 404, "not_found")
    unknown = await client.get(f"/api/v1/imports/{uuid.uuid4()}", headers=cast.a)
    assert (
        problem(unknown, 404, "not_found").keys()
        == problem(await client.get(path, headers=cast.b), 404, "not_found").keys()
    )
    problem(await client.get(path), 401)


async def test_an_admins_import_is_read_by_its_jurisdictions_admins_only(
    idle: tuple[FastAPI, httpx.AsyncClient, Cast], token: TokenFactory
) -> None:
    _, client, cast = idle
    ident = queued(await send(client, cast.admin, csv_file([row(cast.unit_a)])))
    another_admin = auth(token(roles=["admin"], jurisdiction="linfen-water"))
    assert (await status(client, another_admin, ident))["state"] == "queued"
    for stranger in (cast.a, cast.other_admin):
        problem(await client.get(f"/api/v1/imports/{ident}", headers=stranger), 404, "not_found")


# --- a replica that died ---------------------------------------------------------------------


async def _left_running(app: FastAPI, ident: str, *, lease_left: float, attempts: int = 1) -> None:
    """Make the import look taken by a replica that died: running, its lease as given."""
    now = app.state.clock.now()
    values = {
        "state": "running",
        "claim": uuid.uuid4(),
        "claimed_at": now - timedelta(minutes=5),
        "lease_until": now + timedelta(seconds=lease_left),
        "started_at": now - timedelta(minutes=5),
        "attempts": attempts,
    }
    async with app.state.db.transaction() as session:
        await session.execute(update(Import).where(Import.id == uuid.UUID(ident)).values(values))


async def test_a_running_import_whose_lease_ran_out_is_taken_again_and_finished_once(
    idle: tuple[FastAPI, httpx.AsyncClient, Cast],
) -> None:
    app, client, cast = idle
    dead = queued(await send(client, cast.a, csv_file(three_rows(cast.unit_a))))
    alive = queued(await send(client, cast.a, csv_file([row(cast.unit_a, name="另一个系统")])))
    await _left_running(app, dead, lease_left=-1)
    await _left_running(app, alive, lease_left=600)

    # Two workers at once: the one import is taken by one of them and imported once.
    one, two = ImportWorker(app, 1, 60), ImportWorker(app, 1, 60)
    passes = (one.finish_waiting(app.state.db), two.finish_waiting(app.state.db))
    assert sum(await asyncio.gather(*passes)) == 1
    done = await status(client, cast.a, dead)
    assert (done["state"], done["imported"]) == ("done", 3)
    assert await count(app, select(func.count()).select_from(System)) == 3
    assert await one.finish_waiting(app.state.db) == 0, "a finished import is not taken again"
    assert (await status(client, cast.a, alive))["state"] == "running", "its lease still runs"
    assert await stored_file(app, dead) is None
    assert await stored_file(app, alive) is not None


async def test_an_import_a_live_worker_holds_is_skipped_even_past_its_lease(
    idle: tuple[FastAPI, httpx.AsyncClient, Cast],
) -> None:
    app, client, cast = idle
    ident = queued(await send(client, cast.a, csv_file(three_rows(cast.unit_a))))
    await _left_running(app, ident, lease_left=-1)
    worker = ImportWorker(app, 1, 60)
    async with app.state.db.engine.connect() as holder:
        async with holder.begin():  # the row lock a worker running the import holds
            await holder.execute(
                text("SELECT id FROM imports WHERE id = :id FOR UPDATE"), {"id": ident}
            )
            assert await worker.finish_waiting(app.state.db) == 0
    assert await worker.finish_waiting(app.state.db) == 1
    assert (await status(client, cast.a, ident))["imported"] == 3
    assert await count(app, select(func.count()).select_from(System)) == 3


async def test_a_system_row_held_elsewhere_fails_the_attempt_instead_of_holding_the_import(
    idle: tuple[FastAPI, httpx.AsyncClient, Cast], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client, cast = idle
    system = await client.post(
        "/api/v1/systems", json=_system_body(row(cast.unit_a)), headers=cast.a
    )
    assert system.status_code == 201, system.text
    sid = system.json()["id"]
    renamed = {**row(cast.unit_a, name="水资源监测预警系统（二期）"), "id": sid}
    ident = queued(await send(client, cast.a, csv_file([renamed], header=COLUMNS)))
    monkeypatch.setattr(import_worker, "LOCK_WAIT_SECONDS", 0.2)
    worker = ImportWorker(app, 1, 60)
    async with app.state.db.engine.connect() as holder:
        async with holder.begin():  # a request editing the system, never finishing
            await holder.execute(
                text("SELECT id FROM systems WHERE id = :id FOR UPDATE"), {"id": sid}
            )
            with pytest.raises(DBAPIError, match="lock timeout"):  # not a wait without end
                await asyncio.wait_for(worker.finish_waiting(app.state.db), 30)
            waiting = await status(client, cast.a, ident)
            assert waiting["state"] == "running" and waiting["imported"] == 0
    # Released at once (not after its 60 s lease): the next pass imports it.
    assert await worker.finish_waiting(app.state.db) == 1
    assert (await status(client, cast.a, ident))["state"] == "done"
    got = await client.get(f"/api/v1/systems/{sid}", headers=cast.a)
    assert got.json()["name"] == "水资源监测预警系统（二期）"


def _system_body(values: dict[str, object]) -> dict[str, object]:
    """The CSV row as a POST /systems body (booleans and levels as JSON)."""
    body: dict[str, object] = {k: v for k, v in values.items() if v != ""}
    for name in ("sharing_connected", "crypto_assessed", "asset_registered"):
        body[name] = body[name] == "true"
    body["mlps_level"] = int(str(body["mlps_level"]))
    return body


async def test_an_import_that_failed_on_every_attempt_is_given_up(
    idle: tuple[FastAPI, httpx.AsyncClient, Cast],
) -> None:
    app, client, cast = idle
    ident = queued(await send(client, cast.a, csv_file([row(cast.unit_a)])))
    await _left_running(app, ident, lease_left=-1, attempts=MAX_ATTEMPTS)
    assert await ImportWorker(app, 1, 60).finish_waiting(app.state.db) == 0
    refused = await status(client, cast.a, ident)
    assert refused["state"] == "refused"
    assert [(e["row"], e["code"]) for e in refused["errors"]] == [(None, "import_failed")]
    assert await stored_file(app, ident) is None
    assert await listed(client, cast.a) == []


async def test_the_worker_reports_to_readyz_and_keeps_running(
    running: tuple[FastAPI, httpx.AsyncClient, Cast],
) -> None:
    _, client, cast = running
    await finished(client, cast.a, queued(await send(client, cast.a, csv_file([row(cast.unit_a)]))))
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["workers"]["registry-imports"] == "running"
