"""Background workers (the outbox relay, event consumers, schedulers) and their supervisor.

A worker catches and logs its own errors per message and per pass, and says how
it is doing through its ``health``. The supervisor runs each worker in a task and,
should one end anyway (an error that escaped, or a return while the app runs),
logs it, marks it down and restarts it with exponential backoff. ``/readyz`` asks
the supervisor: a worker that is down or failing makes the process not ready, so
an orchestrator (and the gateway's ``/readyz``) sees it instead of a silent stall.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Literal, Protocol

from prometheus_client import Counter, Gauge

from shared.backoff import backoff, next_attempt

log = logging.getLogger(__name__)

State = Literal["starting", "running", "standby", "failing", "down"]
# A worker still starting for the first time, or a relay standing by while another
# replica holds the lock, is doing its job; failing or down is not.
READY_STATES: frozenset[State] = frozenset({"starting", "running", "standby"})

WORKER_UP = Gauge("govit_worker_up", "1 while the worker is ready, else 0", ["worker"])
WORKER_RESTARTS = Counter(
    "govit_worker_restarts_total", "Times the supervisor restarted a worker", ["worker"]
)


class Health:
    """What one worker last reported; the supervisor and ``/readyz`` read it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.state: State = "starting"
        self.error: str | None = None
        self.since = time.monotonic()
        WORKER_UP.labels(name).set(1)

    def _set(self, state: State, error: BaseException | str | None = None) -> None:
        if state != self.state:
            self.since = time.monotonic()
            if state in READY_STATES:
                log.info("worker %s", state, extra={"worker": self.name})
        self.state = state
        self.error = error if error is None or isinstance(error, str) else _describe(error)
        WORKER_UP.labels(self.name).set(1 if state in READY_STATES else 0)

    def running(self) -> None:
        self._set("running")

    def standby(self) -> None:
        self._set("standby")

    def failing(self, error: BaseException | str) -> bool:
        """Record a failure; True if the worker was not failing already (log it in full)."""
        first = self.state != "failing"
        self._set("failing", error)
        return first

    def down(self, error: BaseException | str) -> None:
        self._set("down", error)

    @property
    def ready(self) -> bool:
        return self.state in READY_STATES

    def describe(self) -> str:
        return self.state if self.error is None else f"{self.state}: {self.error}"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


class Worker(Protocol):
    """Runs until ``stop`` is set; reports through ``health``; never returns early."""

    @property
    def name(self) -> str: ...

    @property
    def health(self) -> Health: ...

    async def run(self, stop: asyncio.Event) -> None: ...


class Periodic:
    """A worker doing one ``tick`` every ``every_seconds`` until stopped (a scheduler, a
    purge). A pass that raises is reported to ``/readyz`` (logged in full once per run
    of failures) and tried again after ``retry_seconds``, never left to kill the worker.
    ``wait_first`` waits one interval before the first pass.
    """

    name: str
    wait_first = False

    def __init__(self, every_seconds: float, *, retry_seconds: float | None = None) -> None:
        self.every_seconds = every_seconds
        self.retry_seconds = every_seconds if retry_seconds is None else retry_seconds
        self.health = Health(self.name)

    async def tick(self) -> int:
        """One pass; how many things it did."""
        raise NotImplementedError

    async def run(self, stop: asyncio.Event) -> None:
        if self.wait_first:
            self.health.running()
            await _sleep_unless(stop, self.next_wait())
        while not stop.is_set():
            await self.attempt()
            await _sleep_unless(stop, self.next_wait())

    async def attempt(self) -> int:
        """One pass, its failure reported rather than raised (0 then)."""
        try:
            done = await self.tick()
        except Exception as exc:
            if self.health.failing(exc):
                log.exception("a pass failed", extra={"worker": self.name})
            return 0
        self.health.running()
        return done

    def next_wait(self) -> float:
        """The interval; sooner after a failed pass if ``retry_seconds`` says so."""
        failing = self.health.state == "failing"
        return min(self.every_seconds, self.retry_seconds) if failing else self.every_seconds


class Supervisor:
    """Runs workers, restarts the ones that end, and tells ``/readyz`` how they are.

    Backoff doubles from ``initial_backoff`` up to ``max_backoff`` and starts over
    once a worker has stayed up for ``stable_seconds``.
    """

    def __init__(
        self,
        *,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        stable_seconds: float = 60.0,
    ) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.stable_seconds = stable_seconds
        self.workers: dict[str, Worker] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, worker: Worker) -> None:
        if worker.name in self.workers:
            raise ValueError(f"two workers are named {worker.name!r}")
        self.workers[worker.name] = worker

    def add_all(self, workers: Iterable[Worker]) -> None:
        for worker in workers:
            self.add(worker)

    def start(self, stop: asyncio.Event) -> None:
        for worker in self.workers.values():
            task = asyncio.create_task(self._supervise(worker, stop), name=worker.name)
            self._tasks.append(task)

    async def wait(self, grace_seconds: float) -> None:
        """After ``stop`` is set: give the workers ``grace_seconds``, then cancel them."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=grace_seconds)
        for task in pending:
            log.warning("worker did not stop in time; cancelled", extra={"worker": task.get_name()})
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1)
        self._tasks.clear()

    def report(self) -> dict[str, str]:
        return {name: w.health.describe() for name, w in self.workers.items()}

    def not_ready(self) -> list[str]:
        return [name for name, w in self.workers.items() if not w.health.ready]

    async def _supervise(self, worker: Worker, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while not stop.is_set():
            started = loop.time()
            try:
                await worker.run(stop)
                if stop.is_set():
                    return
                raise RuntimeError("the worker returned while the app was running")
            except Exception as exc:  # anything: a dead worker must never go unnoticed
                failures = next_attempt(failures, loop.time() - started, self.stable_seconds)
                delay = backoff(failures, self.initial_backoff, self.max_backoff)
                worker.health.down(exc)
                WORKER_RESTARTS.labels(worker.name).inc()
                log.exception(
                    "worker stopped; restarting",
                    extra={"worker": worker.name, "restart_in_seconds": delay},
                )
                await _sleep_unless(stop, delay)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
