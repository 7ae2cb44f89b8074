"""The registry's Idempotency-Key migration (0005) builds exactly the kit's table, and
the imports migration (0006) exactly ``models.Import``'s; each goes down and up again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection

from services.registry.models import Import
from shared.db import new_metadata
from shared.db.migrate import alembic_config
from shared.db.session import Database
from shared.idempotency import idempotency_table
from tests.support.databases import Databases


def _kits_table() -> MetaData:
    return idempotency_table(new_metadata()).metadata


def _models_imports() -> MetaData:
    metadata = new_metadata()
    Import.__table__.to_metadata(metadata)
    return metadata


async def _inspect(
    url: str, table: str, declared: Callable[[], MetaData]
) -> tuple[bool, list[Any]]:
    """Whether ``table`` exists, and how it differs from its declaration."""

    def state(connection: Connection) -> tuple[bool, list[Any]]:
        diffs = compare_metadata(MigrationContext.configure(connection), declared())
        ours = [d for d in diffs if f"'{table}'" in repr(d)]
        return inspect(connection).has_table(table), ours

    db = Database(url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            return await conn.run_sync(state)
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("table", "declared", "before"),
    [("idempotency_keys", _kits_table, "0004"), ("imports", _models_imports, "0005")],
)
async def test_a_migration_builds_its_declared_table_down_and_up(
    databases: Databases, table: str, declared: Callable[[], MetaData], before: str
) -> None:
    url = await databases.migrated("registry")
    assert await _inspect(url, table, declared) == (True, [])
    config = alembic_config("registry", url)
    await asyncio.to_thread(command.downgrade, config, before)
    exists, _ = await _inspect(url, table, declared)
    assert not exists
    await asyncio.to_thread(command.upgrade, config, "head")
    assert await _inspect(url, table, declared) == (True, [])
