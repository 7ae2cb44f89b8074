"""The worker supervisor and /readyz: a worker that stops is restarted and reported."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import REGISTRY

from shared.app import create_app
from shared.db import new_metadata
from shared.events import event_tables
from shared.events.workers import Health, Periodic, Supervisor
from shared.settings import GovitSettings
from tests.support.databases import Databases
from tests.support.fixtures import Stack, service_settings


class Flaky:
    """Crashes on its first run, ends quietly on its second, then waits for ``gate``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.health = Health(name)
        self.runs = 0
        self.gate = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        self.runs += 1
        if self.runs == 1:
            raise ConnectionError("the database went away")
        if self.runs == 2:
            return  # a worker must never return while the app runs
        await self.gate.wait()
        self.health.running()
        await stop.wait()


async def wait_for(check: object, seconds: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {seconds} s")


async def test_a_stopped_worker_is_restarted_and_readyz_names_it_while_down(
    stack: Stack, databases: Databases, dev_keys: object
) -> None:
    url = await databases.migrated("approval")
    flaky = Flaky("flaky-scheduler")
    settings = service_settings(GovitSettings, stack, url, service_name="workers-test")
    app = create_app(
        settings=settings,
        title="workers",
        routers=[],
        tables=event_tables(new_metadata()),
        workers=lambda app: [flaky],
    )
    async with app.router.lifespan_context(app):
        supervisor: Supervisor = app.state.workers
        assert set(supervisor.workers) == {"outbox-relay", "flaky-scheduler"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            # Crashed, then returned: restarted twice, and down until it says otherwise.
            await wait_for(lambda: _at_least(flaky, 3))
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.headers["content-type"] == "application/problem+json"
            body = ready.json()
            assert body["code"] == "not_ready"
            assert "worker flaky-scheduler is down" in body["detail"]
            assert "returned while the app was running" in body["workers"]["flaky-scheduler"]
            assert body["checks"] == {"database": "ok", "nats": "ok"}
            restarts = REGISTRY.get_sample_value(
                "govit_worker_restarts_total", {"worker": "flaky-scheduler"}
            )
            assert restarts == 2

            flaky.gate.set()
            await wait_for(lambda: _ready(client))
            body = (await client.get("/readyz")).json()
            assert body["workers"]["flaky-scheduler"] == "running"
            assert body["workers"]["outbox-relay"] == "running"
    assert flaky.runs == 3


async def _at_least(worker: Flaky, runs: int) -> bool:
    return worker.runs >= runs


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


class Sweeper(Periodic):
    """Fails its second pass; counts passes."""

    name = "test-sweeper"

    def __init__(self, *, wait_first: bool) -> None:
        super().__init__(3600, retry_seconds=0.01)
        self.wait_first = wait_first
        self.passes = 0
        self.states: list[str] = []

    async def tick(self) -> int:
        self.passes += 1
        self.states.append(self.health.state)
        if self.passes == 2:
            raise ConnectionError("the database went away")
        return self.passes


async def test_a_periodic_worker_survives_a_failed_pass_and_retries_it_sooner() -> None:
    sweeper = Sweeper(wait_first=False)
    assert await sweeper.attempt() == 1 and sweeper.health.state == "running"
    assert await sweeper.attempt() == 0, "a failed pass is reported, not raised"
    assert sweeper.health.state == "failing" and "went away" in sweeper.health.describe()
    assert sweeper.next_wait() == 0.01
    assert await sweeper.attempt() == 3 and sweeper.next_wait() == 3600
    # The loop passes at once, then sleeps for its hour and still ends at once on stop.
    stop = asyncio.Event()
    task = asyncio.create_task(sweeper.run(stop))
    await wait_for(lambda: _passed(sweeper, 4))
    stop.set()
    await asyncio.wait_for(task, 5)
    assert sweeper.passes == 4


async def test_a_periodic_worker_that_waits_first_does_nothing_until_its_interval() -> None:
    sweeper = Sweeper(wait_first=True)
    stop = asyncio.Event()
    task = asyncio.create_task(sweeper.run(stop))
    await asyncio.sleep(0.1)
    assert sweeper.passes == 0 and sweeper.health.state == "running"
    stop.set()
    await asyncio.wait_for(task, 5)
    assert sweeper.passes == 0


async def _passed(worker: Sweeper, passes: int) -> bool:
    return worker.passes >= passes
