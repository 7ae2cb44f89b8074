"""Engine, the one commit point, and the read path's sessions.

``Database.transaction()`` is the only place that commits: the request dependency
and the event consumer wrapper both use it, so a use case in ``service.py`` flushes
and its outbox rows commit (or roll back) together with the state change.

``Database.reading()`` is what a GET runs in: no transaction block, each statement
its own (PostgreSQL's autocommit). A transaction costs two round trips of its own
(``BEGIN``, ``COMMIT``) on top of the one ``SELECT`` a page needs, and it buys a
read nothing: under READ COMMITTED every statement takes its own snapshot either
way. A block that does need one (a server-side cursor, ``SET LOCAL``) asks for it
with ``snapshot(session)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asyncpg import Connection as AsyncpgConnection
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
        self,
        url: str,
        *,
        pool_size: int = 10,
        pre_ping: bool = False,
        echo: bool = False,
        max_overflow: int = 10,
    ) -> None:
        self.url = url
        # No pre-ping by default: it is one more round trip on every checkout (a 1-row
        # page's cost, measured in bench/read_path.py). A connection that died with a
        # restarted PostgreSQL fails its one request, and SQLAlchemy then drops every
        # pooled connection from before the restart, so the next request reconnects.
        # Past ``pool_size`` SQLAlchemy opens up to ``max_overflow`` more connections and
        # closes each again on return: a write that holds one connection while it asks
        # for a second (the Idempotency-Key store) must not wait for itself. Reads on
        # the fast path do not overflow (``shared.db.fast`` queues them instead).
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=pre_ping,
            echo=echo,
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.reads = self._autocommit_sessions()

    def bind_to(self, connection: AsyncConnection | None) -> None:
        """Make every session join ``connection`` (tests: one rolled-back transaction)."""
        if connection is None:
            self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
            self.reads = self._autocommit_sessions()
        else:
            self.sessions = self.reads = async_sessionmaker(
                bind=connection,
                expire_on_commit=False,
                join_transaction_mode="create_savepoint",
            )

    def _autocommit_sessions(self) -> async_sessionmaker[AsyncSession]:
        # The same pool: a connection checked out for these runs in autocommit (a flag
        # on the driver's side, no round trip) and is set back when it is returned.
        return async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"),
            expire_on_commit=False,
            info={_AUTOCOMMIT: True},
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

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for a request that only reads (GET, HEAD): no BEGIN, no COMMIT.

        Nothing written through it is kept back for a commit: a read path that
        flushes an ORM change is a bug, refused here rather than silently written.

        A session that never took a connection (a page read by ``shared.db.fast``)
        holds nothing to give back: its close, a greenlet hop and a shielded task
        (~60 µs of a ~1 ms page), is skipped.
        """
        session = self.reads()
        try:
            yield session
            if session.new or session.dirty or session.deleted:
                raise RuntimeError("a read-only request changed ORM objects")
        finally:
            if session.in_transaction() or session.identity_map:
                await asyncio.shield(session.close())

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


# The ``info`` flag of a ``reading()`` session (shared.db.fast reads it too).
AUTOCOMMIT = _AUTOCOMMIT = "govit.autocommit"


@asynccontextmanager
async def snapshot(session: AsyncSession) -> AsyncIterator[None]:
    """Run the block inside one transaction block, whatever session it is.

    A ``transaction()`` session is in one already: nothing to do. A ``reading()``
    session is not, and a server-side cursor (``session.stream``) or ``SET LOCAL``
    needs one: the block gets its own, committed (or rolled back) at its end.
    """
    if not session.info.get(_AUTOCOMMIT):
        yield
        return
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: AsyncpgConnection = raw.driver_connection
    async with driver.transaction():
        yield


@asynccontextmanager
async def custom_plans(session: AsyncSession, *, when: bool = True) -> AsyncIterator[None]:
    """Plan each statement of the block for its own parameters (when ``when``).

    Once a pooled connection has run a statement 5 times, PostgreSQL may switch it to
    a generic plan that cannot see the parameters (a LIKE pattern's selectivity, say).
    ``SET LOCAL`` keeps the setting to the block's transaction.
    """
    if not when:
        yield
        return
    async with snapshot(session):
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        yield


def asyncpg_dsn(url: str) -> str:
    """The plain libpq URL for asyncpg (LISTEN needs a raw connection)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)
