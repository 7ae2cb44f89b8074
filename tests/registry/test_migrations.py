"""The registry's Idempotency-Key migration (0005) builds exactly the kit's table, and
the imports migration (0006) exactly ``models.Import``'s; each goes down and up again."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from services.registry.models import Import
from shared.db import new_metadata
from shared.db.migrate import alembic_config
from shared.db.session import Database
from shared.idempotency import idempotency_table
from tests.support.databases import Databases


def _state(connection: Connection) -> tuple[bool, list[Any]]:
    """Whether the table exists, and how it differs from the kit's declaration."""
    metadata = idempotency_table(new_metadata()).metadata
    diffs = compare_metadata(MigrationContext.configure(connection), metadata)
    ours = [d for d in diffs if "idempotency_keys" in repr(d)]
    return inspect(connection).has_table("idempotency_keys"), ours


async def _inspect(url: str) -> tuple[bool, list[Any]]:
    db = Database(url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            return await conn.run_sync(_state)
    finally:
        await db.dispose()


async def test_the_idempotency_migration_builds_the_kits_table_down_and_up(
    databases: Databases,
) -> None:
    url = await databases.migrated("registry")
    assert await _inspect(url) == (True, [])
    config = alembic_config("registry", url)
    await asyncio.to_thread(command.downgrade, config, "0004")
    exists, _ = await _inspect(url)
    assert not exists
    await asyncio.to_thread(command.upgrade, config, "head")
    assert await _inspect(url) == (True, [])


def _imports_state(connection: Connection) -> tuple[bool, list[Any]]:
    """Whether ``imports`` exists, and how it differs from ``models.Import``."""
    metadata = new_metadata()
    Import.__table__.to_metadata(metadata)
    diffs = compare_metadata(MigrationContext.configure(connection), metadata)
    ours = [d for d in diffs if "imports" in repr(d) and "idempotency" not in repr(d)]
    return inspect(connection).has_table("imports"), ours


async def _inspect_imports(url: str) -> tuple[bool, list[Any]]:
    db = Database(url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            return await conn.run_sync(_imports_state)
    finally:
        await db.dispose()


async def test_the_imports_migration_builds_the_models_table_down_and_up(
    databases: Databases,
) -> None:
    url = await databases.migrated("registry")
    assert await _inspect_imports(url) == (True, [])
    config = alembic_config("registry", url)
    await asyncio.to_thread(command.downgrade, config, "0005")
    exists, _ = await _inspect_imports(url)
    assert not exists
    await asyncio.to_thread(command.upgrade, config, "head")
    assert await _inspect_imports(url) == (True, [])
