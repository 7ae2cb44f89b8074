"""The NATS JetStream connection and the one stream, ``GOVIT`` on ``govit.>``."""

from __future__ import annotations

from contextlib import suppress

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError
from tenacity import AsyncRetrying, stop_after_delay, wait_exponential

STREAM = "GOVIT"
SUBJECTS = ["govit.>"]
DUPLICATE_WINDOW_SECONDS = 120


class Bus:
    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()

    @classmethod
    async def connect(cls, url: str, *, name: str, wait_seconds: float = 60) -> Bus:
        """Connect, waiting for the server with backoff (a Procfile has no start order).

        Once connected, the client reconnects forever: an outage pauses the relay,
        it never ends the process. Nothing is buffered while disconnected
        (``pending_size=0``): a publish or an ack then fails at once and the worker
        knows, instead of an ack that seems sent and a publish that waits out its
        timeout (the relay keeps the row, JetStream redelivers the message).
        """
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(wait_seconds),
            wait=wait_exponential(multiplier=0.2, max=3),
            reraise=True,
        ):
            with attempt:
                nc = await nats.connect(
                    url,
                    name=name,
                    connect_timeout=2,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    allow_reconnect=True,
                    pending_size=0,
                )
        bus = cls(nc)
        await bus.ensure_stream()
        return bus

    async def ensure_stream(self) -> None:
        try:
            await self.js.stream_info(STREAM)
        except NotFoundError:
            await self.js.add_stream(
                StreamConfig(
                    name=STREAM,
                    subjects=SUBJECTS,
                    storage=StorageType.FILE,
                    duplicate_window=DUPLICATE_WINDOW_SECONDS,
                )
            )

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    async def ping(self) -> None:
        await self.nc.flush(timeout=2)

    async def close(self) -> None:
        # Not drain(): draining a pull subscription waits out its whole timeout, and
        # by now the workers have stopped and every ack has been sent.
        if not self.nc.is_closed:
            with suppress(Exception):
                await self.nc.flush(timeout=1)
            await self.nc.close()
