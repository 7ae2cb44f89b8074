"""Heavy spreadsheet work off the event loop: a bounded pool and per-caller slots.

Parsing a 100,000-row file or building an export is CPU work of seconds; on the
event loop it stalled every other request of the process (27 s, or a 504). Here it
runs in a small thread pool. Threads, not processes: the hot paths (expat, csv,
zipfile, asyncpg's encoders) spend most of their time in C, the GIL is handed back
every few milliseconds, and a small request on the loop stays responsive (see
``make bench``), while a process pool would pickle every row across.

Each caller holds at most ``per_caller`` heavy calls at once (429 past it), and the
process at most ``workers + backlog`` (503 past that), both with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import ParamSpec, TypeVar

from shared.errors import GovitError

P = ParamSpec("P")
T = TypeVar("T")


class HeavyWork:
    def __init__(
        self, *, workers: int = 2, backlog: int = 6, per_caller: int = 2, retry_after: int = 10
    ) -> None:
        self.workers = workers
        self.backlog = backlog
        self.per_caller = per_caller
        self.retry_after = retry_after
        self._pool: ThreadPoolExecutor | None = None
        self._held: Counter[str] = Counter()

    @property
    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:  # threads start on first use, never at import time
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="spreadsheets")
        return self._pool

    @asynccontextmanager
    async def slot(self, caller: str) -> AsyncIterator[None]:
        """Hold one heavy call for ``caller`` for the block, or refuse at once."""
        headers = {"Retry-After": str(self.retry_after)}
        if self._held[caller] >= self.per_caller:
            raise GovitError(
                429,
                "too_many_heavy_requests",
                f"you already have {self.per_caller} imports or exports running; retry"
                " when one has finished",
                extra={"message_zh": "您已有导入或导出正在进行，请稍后重试"},
                headers=headers,
            )
        if self._held.total() >= self.workers + self.backlog:
            raise GovitError(
                503,
                "heavy_work_busy",
                "too many imports and exports are running; retry shortly",
                extra={"message_zh": "当前导入导出任务过多，请稍后重试"},
                headers=headers,
            )
        self._held[caller] += 1
        try:
            yield
        finally:
            self._held[caller] -= 1
            if not self._held[caller]:
                del self._held[caller]

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn`` in the pool, with the caller's context (request id, for events)."""
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await loop.run_in_executor(self.pool, call)
