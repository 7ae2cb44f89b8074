"""Every service's migrations build exactly the event tables the code declares."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from deploy.local.stack import SERVICES
from shared.db import new_metadata
from shared.db.migrate import alembic_config
from shared.db.session import Database
from shared.events import event_tables
from tests.support.databases import Databases

EVENT_TABLES = {"outbox", "inbox", "dead_letters"}


def _table_of(diff: Any) -> str:
    if isinstance(diff, list):  # modify_* operations come as a list of tuples
        return str(diff[0][2])
    op, subject = diff[0], diff[1]
    if op.endswith("_table"):
        return str(subject.name)
    if op.endswith("_index") or op.endswith("_constraint"):
        return str(subject.table.name)
    return str(diff[2])  # add_column / remove_column: (op, schema, table, column)


def _event_table_diffs(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection)
    diffs = compare_metadata(context, event_tables(new_metadata()).outbox.metadata)
    return [d for d in diffs if _table_of(d) in EVENT_TABLES]


async def _diffs(url: str) -> list[Any]:
    db = Database(url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            return await conn.run_sync(_event_table_diffs)
    finally:
        await db.dispose()


@pytest.mark.parametrize("service", SERVICES)
async def test_migrated_event_tables_match_the_code(service: str, databases: Databases) -> None:
    url = await databases.migrated(service)
    assert await _diffs(url) == []


@pytest.mark.parametrize("service", sorted(set(SERVICES) - {"registry"}))
async def test_the_parking_migration_goes_down_and_up_again(
    service: str, databases: Databases
) -> None:
    url = await databases.migrated(service)
    config = alembic_config(service, url)
    await asyncio.to_thread(command.downgrade, config, "0001")
    before_parking = await _diffs(url)  # the comparison sees what the revision adds
    assert {d[0] for d in before_parking} == {"add_column", "add_index"}
    assert any(d[0] == "add_column" and d[3].name == "parked_at" for d in before_parking)
    await asyncio.to_thread(command.upgrade, config, "head")
    assert await _diffs(url) == []
