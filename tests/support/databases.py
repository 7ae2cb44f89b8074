"""Test databases on the real PostgreSQL: a migrated template per service, clones of it."""

from __future__ import annotations

import asyncio

import asyncpg

from deploy.local.stack import with_database
from shared.db.migrate import upgrade
from shared.db.session import asyncpg_dsn


class Databases:
    def __init__(self, server_url: str, prefix: str) -> None:
        self.server_url = server_url
        self.prefix = prefix
        self._templates: dict[str, str] = {}
        self._count = 0
        self._lock = asyncio.Lock()

    def url(self, name: str) -> str:
        return with_database(self.server_url, name)

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(self.url("postgres")))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def create(self, template: str | None = None) -> str:
        """A new empty (or cloned) database; returns its SQLAlchemy URL."""
        async with self._lock:
            self._count += 1
            name = f"{self.prefix}_{self._count}"
            clause = f' TEMPLATE "{template}"' if template else ""
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await self._admin(f'CREATE DATABASE "{name}"{clause}')
        return self.url(name)

    async def migrated_template(self, service: str) -> str:
        """A database with the service's migrations applied, made once per run."""
        if service not in self._templates:
            url = await self.create()
            await asyncio.to_thread(upgrade, service, url)
            self._templates[service] = url.rsplit("/", 1)[1]
        return self._templates[service]

    async def migrated(self, service: str) -> str:
        """A fresh clone of the service's migrated template (commits are fine here)."""
        return await self.create(template=await self.migrated_template(service))

    async def drop_all(self) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(self.url("postgres")))
        try:
            names = await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{self.prefix}\\_%"
            )
            for row in names:
                await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        finally:
            await conn.close()
