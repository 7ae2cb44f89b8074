"""Each profile's project through the gateway, from the catalogue to operations money.

One real suite for the session (``running_suite``: ``make up``'s processes). Each
walk goes as far as the landed services allow (``tests/e2e/lifecycle.py``); where
it stops, the waiting service is asserted to be still missing, so the walk grows by
itself once ``tests/contract/waiting.WAITING_ROUTES`` loses an entry. At the end,
every event any service wrote honours its schema and reached the stream once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from deploy.local.stack import SERVICES
from shared.policy import PROFILE_IDS
from tests.contract.waiting import WAITING_ROUTES
from tests.e2e.lifecycle import Walk
from tests.e2e.stream import check_envelope, rows, stream_event_ids
from tests.e2e.suite import Suite
from tests.support.checks import wait_until

WALK_ORDER = ("registry", "approval", "funding", "filing", "evaluation")


@pytest.fixture
async def gateway(running_suite: Suite) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running_suite.url, timeout=30) as client:
        yield client


@pytest.mark.parametrize("profile", sorted(PROFILE_IDS))
async def test_a_project_goes_the_whole_way(
    profile: str, running_suite: Suite, gateway: httpx.AsyncClient
) -> None:
    walk = Walk(running_suite, gateway, profile)
    await walk.run()
    assert walk.done[:3] == [
        "unit registered",
        "systems catalogued",
        "catalogue refusals and access",
    ]
    first_waiting = next((s for s in WALK_ORDER if s in WAITING_ROUTES), None)
    assert walk.waiting_for == first_waiting, (walk.done, walk.waiting_for)
    if first_waiting is None:
        assert walk.done[-1] == "operations disbursed"


async def test_every_event_written_honours_its_schema_and_reached_the_stream_once(
    running_suite: Suite, gateway: httpx.AsyncClient
) -> None:
    assert (await gateway.get("/readyz")).status_code == 200
    written: dict[str, list[str]] = {}
    for service in SERVICES:
        envelopes = await rows(running_suite, service, "SELECT envelope FROM outbox")
        for row in envelopes:
            envelope = row["envelope"]
            envelope = json.loads(envelope) if isinstance(envelope, str) else envelope
            check_envelope(envelope, f"/govit/{service}")
        written[service] = [
            (json.loads(r["envelope"]) if isinstance(r["envelope"], str) else r["envelope"])["id"]
            for r in envelopes
        ]
    assert written["registry"], "the walks wrote no registry event"

    async def all_sent() -> bool:
        for service in SERVICES:
            unsent = await rows(
                running_suite, service, "SELECT id FROM outbox WHERE sent_at IS NULL"
            )
            if unsent:
                return False
        return True

    await wait_until(all_sent, 30, "every outbox row is published")
    for service in SERVICES:
        parked = await rows(
            running_suite, service, "SELECT id FROM outbox WHERE parked_at IS NOT NULL"
        )
        dead = await rows(running_suite, service, "SELECT event_id, error FROM dead_letters")
        assert not parked and not dead, (service, parked, dead)
    in_stream = await stream_event_ids(running_suite)
    for service, ids in written.items():
        assert all(in_stream[i] == 1 for i in ids), service
