"""Never over-disburse: two app instances on one database, requests really committed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from services.funding.app import build_app
from services.funding.models import ledgers, movements
from shared.clock import FixedClock
from tests.funding.conftest import (
    NOW,
    allocate,
    cast,
    disbursement,
    everything_filed,
    feed,
    funding_settings,
    key,
    new_project,
)
from tests.support.checks import problem
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory


@asynccontextmanager
async def two_instances(
    stack: Stack, databases: Databases
) -> AsyncIterator[list[tuple[FastAPI, httpx.AsyncClient]]]:
    url = await databases.migrated("funding")
    async with AsyncExitStack() as stack_:
        pairs = []
        for n in range(2):
            settings = funding_settings(
                stack, url, outbox_relay_enabled=False, consumers_enabled=False
            )
            app = build_app(settings)
            await stack_.enter_async_context(app.router.lifespan_context(app))
            app.state.clock = FixedClock(NOW)
            transport = httpx.ASGITransport(app=app)
            client = await stack_.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url=f"http://funding-{n}", timeout=120)
            )
            pairs.append((app, client))
        yield pairs


async def test_fifty_parallel_tenths_across_two_instances_exactly_ten_succeed(
    stack: Stack, databases: Databases, token: TokenFactory, dev_keys: object
) -> None:
    async with two_instances(stack, databases) as pairs:
        (app, first), (_, second) = pairs
        p = new_project()
        await feed(app, *everything_filed(p))
        finance = cast(token, p).finance
        await allocate(first, finance, p, "100000.00")
        clients = [first, second] * 25
        answers = await asyncio.gather(
            *(
                c.post(
                    "/api/v1/disbursements",
                    json=disbursement(p, "10000.00"),
                    headers=finance | key(),
                )
                for c in clients
            )
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] * 10 + [409] * 40, [
            a.text for a in answers if a.status_code not in (201, 409)
        ]
        for refused in (a for a in answers if a.status_code == 409):
            rules = [v["rule"] for v in problem(refused, 409, "disbursement_refused")["violations"]]
            assert rules == ["funding:effective-allocation"]
        async with app.state.db.sessions() as session:
            row = (await session.execute(select(ledgers).where(ledgers.c.project_id == p.id))).one()
            count = await session.scalar(
                select(func.count()).select_from(movements).where(movements.c.project_id == p.id)
            )
        assert (row.operations, count) == (100000, 10)
        totals = sorted(
            (a.json()["disbursed_total"] for a in answers if a.status_code == 201), key=Decimal
        )
        assert totals == [f"{n * 10000}.00" for n in range(1, 11)]


async def test_one_key_sent_to_both_instances_moves_money_once(
    stack: Stack, databases: Databases, token: TokenFactory, dev_keys: object
) -> None:
    async with two_instances(stack, databases) as pairs:
        (app, first), (_, second) = pairs
        p = new_project()
        await feed(app, *everything_filed(p))
        finance = cast(token, p).finance
        await allocate(first, finance, p, "100000.00")
        same = finance | key()
        body = disbursement(p, "7000.00")
        answers = await asyncio.gather(
            *(c.post("/api/v1/disbursements", json=body, headers=same) for c in [first, second] * 3)
        )
        assert {a.status_code for a in answers} <= {201, 409}
        made = [a for a in answers if a.status_code == 201]
        assert made and len({a.json()["id"] for a in made}) == 1
        for busy in (a for a in answers if a.status_code == 409):
            problem(busy, 409, "idempotency_key_in_flight")
        again = await second.post("/api/v1/disbursements", json=body, headers=same)
        assert again.status_code == 201 and again.json() == made[0].json()
        async with app.state.db.sessions() as session:
            row = (await session.execute(select(ledgers).where(ledgers.c.project_id == p.id))).one()
        assert row.operations == 7000


async def test_the_ledger_refuses_more_than_its_ceiling_even_behind_the_code(
    stack: Stack, databases: Databases, token: TokenFactory, dev_keys: object
) -> None:
    async with two_instances(stack, databases) as pairs:
        (app, first), _ = pairs
        p = new_project()
        await feed(app, *everything_filed(p))
        finance = cast(token, p).finance
        await allocate(first, finance, p, "100000.00")
        made = await first.post(
            "/api/v1/disbursements", json=disbursement(p, "1.00"), headers=finance | key()
        )
        assert made.status_code == 201
        for change in ({"operations": ledgers.c.ceiling + 1}, {"construction": -5}):
            with pytest.raises(IntegrityError):
                async with app.state.db.transaction() as session:
                    await session.execute(
                        update(ledgers).where(ledgers.c.project_id == p.id).values(change)
                    )
