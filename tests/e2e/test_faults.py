"""The fault run: the funding service SIGKILLed and started again in the middle of the
flow, NATS stopped and started again; nothing lost and nothing doubled.

Runs on the session's suite after the walks (file order). Events keep being made
through the gateway while each fault lasts; afterwards every one of them is in the
stream exactly once, every outbox row is sent and nothing is dead-lettered, and
every consumer that takes them (funding's, once it consumes) has each in its
inbox exactly once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.contract.waiting import WAITING_CONSUMERS
from tests.e2e.stream import rows, stream_event_ids
from tests.e2e.suite import Suite
from tests.support.checks import wait_until

PROFILE = "jincheng"


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
    unit = (
        await gateway.post(
            "/api/v1/units",
            json={"name": "晋城市故障演练中心", "jurisdiction": PROFILE},
            headers=suite.token("admin", PROFILE),
        )
    ).json()["id"]

    # 1. funding SIGKILLed while systems are catalogued; keep_running starts it again
    old = suite.kill_service("funding")
    await catalogue(gateway, suite, unit, [f"演练系统{i}" for i in range(10)])
    suite.wait_service_back("funding", old)
    await catalogue(gateway, suite, unit, [f"演练系统{i}" for i in range(10, 15)])

    # 2. NATS stopped: writes still succeed (outbox), nothing leaves until it is back
    command = suite.stop_nats()
    await catalogue(gateway, suite, unit, [f"断网系统{i}" for i in range(10)])
    assert await unsent(suite) >= 10, "events left while NATS was down?"
    suite.start_nats(command)

    async def drained() -> bool:
        return await unsent(suite) == 0

    await wait_until(drained, 60, "the registry's outbox drains once NATS is back")
    suite.wait_ready(60)  # every service reconnected, its workers running again

    events = await rows(
        suite,
        "registry",
        "SELECT id::text AS id FROM outbox WHERE envelope->'data'->>'org' = $1",
        unit,
    )
    assert len(events) == 25  # one registered event per system
    in_stream = await stream_event_ids(suite, "govit.registry.>")
    assert {e["id"]: in_stream[e["id"]] for e in events} == {e["id"]: 1 for e in events}

    if "funding" not in WAITING_CONSUMERS:  # funding takes the systems: each once
        ids = [e["id"] for e in events]

        async def all_received() -> bool:
            sql = "SELECT DISTINCT event_id FROM inbox WHERE event_id = ANY($1)"
            got = await rows(suite, "funding", sql, ids)
            return len(got) == len(ids)

        await wait_until(all_received, 60, "funding received every system event")
    for service in ("registry", "funding"):
        assert not await rows(suite, service, "SELECT event_id FROM dead_letters")
