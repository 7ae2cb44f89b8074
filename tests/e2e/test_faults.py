"""The fault run: the funding service SIGKILLed and started again in the middle of a
project's flow, NATS stopped and started again; nothing lost and nothing doubled.

A jincheng project is approved and allocated; funding is SIGKILLed (``make up``'s
keep_running starts it again) while the contract and supervisor filings and a burst
of catalogued systems happen; NATS is then stopped while the acceptance report is
filed and more systems are catalogued. Afterwards: funding has every fact the
filings set (each from its event), every registry event is in the stream exactly
once and in funding's inbox exactly once, nothing is dead-lettered, a disbursement
retried with its Idempotency-Key moved money once, and the operations money flows
once the acceptance report's event has arrived.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.contract.waiting import WAITING_CONSUMERS
from tests.e2e.lifecycle import Walk, created, key, ok
from tests.e2e.stream import rows, stream_event_ids
from tests.e2e.suite import Suite
from tests.support.checks import wait_until

PROFILE = "jincheng"
# what the fault run saw, for the session's summary (tests/e2e/conftest.py)
FAULTS: dict[str, object] = {}


@pytest.fixture
async def gateway(running_suite: Suite) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running_suite.url, timeout=30) as client:
        yield client


async def catalogue(client: httpx.AsyncClient, suite: Suite, unit: str, names: list[str]) -> None:
    headers = suite.token("unit", PROFILE, unit)
    for name in names:
        answer = await client.post(
            "/api/v1/systems",
            json={
                "name": name,
                "org": unit,
                "status": "operating",
                "network": "extranet",
                "cloud": "on_cloud",
                "sharing_connected": True,
                "mlps_level": 2,
                "crypto_assessed": True,
                "asset_registered": True,
            },
            headers=headers,
        )
        assert answer.status_code == 201, answer.text


async def unsent(suite: Suite) -> int:
    return len(await rows(suite, "registry", "SELECT id FROM outbox WHERE sent_at IS NULL"))


async def test_funding_killed_and_nats_stopped_mid_flow_lose_and_double_nothing(
    running_suite: Suite, gateway: httpx.AsyncClient
) -> None:
    suite = running_suite
    walk = Walk(suite, gateway, PROFILE, unit_name="晋城市交通运输局")
    for step in (
        walk.register_unit,
        walk.catalogue,
        walk.create_project,
        walk.submit,
        walk.opinions_and_reviews,
        walk.approve,
        walk.allocate,
    ):
        await step()
    unit = walk.unit

    # 1. funding SIGKILLed mid-flow; keep_running starts it again
    old = suite.kill_service("funding")
    killed_at = time.monotonic()
    await walk.file_contract()  # approval and filing go on without funding
    await walk.file_supervisor()
    await catalogue(gateway, suite, unit, [f"演练系统{i}" for i in range(10)])
    suite.wait_service_back("funding", old)
    FAULTS["funding back and ready after SIGKILL (s)"] = round(time.monotonic() - killed_at, 1)
    await catalogue(gateway, suite, unit, [f"演练系统{i}" for i in range(10, 15)])

    async def facts_caught_up() -> bool:
        facts = (await walk.funding())["facts"]
        return all(
            facts[f]["value"] and facts[f]["event"] for f in ("contract_filed", "supervisor_filed")
        )

    await wait_until(facts_caught_up, 60, "funding has the filings made while it was dead")
    retried = {"Idempotency-Key": str(uuid.uuid4()), **walk.as_("finance")}
    body = {
        "project_id": walk.project,
        "category": "construction",
        "amount": "500000.00",
        "year": walk.year,
    }
    first = created(await gateway.post("/api/v1/disbursements", json=body, headers=retried))
    again = created(await gateway.post("/api/v1/disbursements", json=body, headers=retried))
    assert again["id"] == first["id"]

    # 2. NATS stopped: writes still succeed (outbox), nothing leaves until it is back
    command = suite.stop_nats()
    report = {
        "project_id": walk.project,
        "type": "acceptance",
        "event_date": walk.today.isoformat(),
        "documents": [
            {"type": "construction_summary", "title": "竣工总结.pdf", "sha256": "d" * 64}
        ],
        "passed": True,
        "trial_run_started_on": None,
        "catalogue_joined": True,
        "secure_controllable": True,
    }
    filed = await gateway.post(
        "/api/v1/filings", json=report, headers={**walk.as_("unit"), **key()}
    )
    assert filed.status_code == 201, filed.text
    await catalogue(gateway, suite, unit, [f"断网系统{i}" for i in range(10)])
    FAULTS["registry events held in the outbox while NATS was down"] = await unsent(suite)
    assert await unsent(suite) >= 10, "events left while NATS was down?"
    suite.start_nats(command)
    restarted_at = time.monotonic()

    async def drained() -> bool:
        return await unsent(suite) == 0

    await wait_until(drained, 60, "the registry's outbox drains once NATS is back")
    FAULTS["outbox drained after NATS restart (s)"] = round(time.monotonic() - restarted_at, 1)
    suite.wait_ready(60)  # every service reconnected, its workers running again
    FAULTS["all services ready after NATS restart (s)"] = round(time.monotonic() - restarted_at, 1)

    events = await rows(
        suite,
        "registry",
        "SELECT id::text AS id FROM outbox WHERE envelope->'data'->>'org' = $1",
        unit,
    )
    assert len(events) >= 25  # one registered event per system (and the walk's)
    in_stream = await stream_event_ids(suite, "govit.registry.>")
    FAULTS["events in the stream exactly once"] = sum(in_stream[e["id"]] == 1 for e in events)
    assert {e["id"]: in_stream[e["id"]] for e in events} == {e["id"]: 1 for e in events}

    if "funding" not in WAITING_CONSUMERS:  # funding takes the systems: each once
        ids = [e["id"] for e in events]

        async def all_received() -> bool:
            sql = "SELECT DISTINCT event_id FROM inbox WHERE event_id = ANY($1)"
            got = await rows(suite, "funding", sql, ids)
            return len(got) == len(ids)

        await wait_until(all_received, 60, "funding received every system event")
        FAULTS["system events in funding's inbox, each once"] = len(ids)
    for service in ("registry", "approval", "filing", "funding", "evaluation"):
        assert not await rows(suite, service, "SELECT event_id FROM dead_letters")

    # the acceptance report filed while NATS was down reached approval and funding
    await walk.disburse_operations()  # waits for the gate; exactly 550,000.00 disbursed
    moves = ok(
        await gateway.get(
            f"/api/v1/disbursements?project_id={walk.project}", headers=walk.as_("finance")
        )
    )["items"]
    assert sorted(m["category"] for m in moves) == ["construction", "operations"], moves
