"""Engine and the one commit point.

``Database.transaction()`` is the only place that commits: the request dependency
and the event consumer wrapper both use it, so a use case in ``service.py`` flushes
and its outbox rows commit (or roll back) together with the state change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from tenacity import AsyncRetrying, stop_after_delay, wait_exponential


class Database:
    def __init__(
        self, url: str, *, pool_size: int = 10, pre_ping: bool = False, echo: bool = False
    ) -> None:
        self.url = url
        # No pre-ping by default: it is one more round trip on every checkout (a 1-row
        # page's cost, measured in bench/read_path.py). A connection that died with a
        # restarted PostgreSQL fails its one request, and SQLAlchemy then drops every
        # pooled connection from before the restart, so the next request reconnects.
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=pool_size, pool_pre_ping=pre_ping, echo=echo
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def bind_to(self, connection: AsyncConnection | None) -> None:
        """Make every session join ``connection`` (tests: one rolled-back transaction)."""
        if connection is None:
            self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        else:
            self.sessions = async_sessionmaker(
                bind=connection,
                expire_on_commit=False,
                join_transaction_mode="create_savepoint",
            )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Open a session, commit once at the end, roll back on any error."""
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def wait_until_ready(self, seconds: float = 60) -> None:
        """A Procfile has no start order: wait for PostgreSQL with backoff."""
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(seconds),
            wait=wait_exponential(multiplier=0.2, max=3),
            reraise=True,
        ):
            with attempt:
                await self.ping()

    async def dispose(self) -> None:
        await self.engine.dispose()


def asyncpg_dsn(url: str) -> str:
    """The plain libpq URL for asyncpg (LISTEN needs a raw connection)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)
