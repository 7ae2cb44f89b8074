"""The consumer kit piece: a projection of another service's events on the real database.

The projection here is what approval will keep of the registry's systems: a small
table made for the test, fed with ``govit.registry.system.*`` events through the
consumer's inbox (``Consumer.handle_once``), as a service's worker feeds it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, Table, Text, Uuid, func, select

from shared.db import new_metadata
from shared.db.session import Database
from shared.events import Event, EventTables, event_tables, new_event
from shared.events.consumer import Consumer
from shared.events.projection import Projection
from tests.support.databases import Databases

SOURCE = "/govit/registry"


def system_event(system_id: uuid.UUID, version: int, status: str = "operating") -> Event:
    """A registry event as the registry writes it: the full state, with its version."""
    state: dict[str, Any] = {
        "id": str(system_id),
        "org": str(uuid.UUID(int=7)),
        "jurisdiction": "linfen-water",
        "name": f"水资源管理系统 v{version}",
        "status": status,
        "network": "extranet",
        "cloud": "on_cloud",
        "cloud_exempt_reason": None,
        "private_network_approval": None,
        "sharing_connected": True,
        "mlps_level": 3,
        "crypto_assessed": True,
        "asset_registered": True,
        "resource_count": 1,
        "facts": {"catalogued": True, "data_shared": True, "on_cloud": True, "secure": True},
        "version": version,
    }
    kind = "registered" if version == 1 else "updated"
    if kind == "updated":
        state["changed"] = ["name", "status"]
    return new_event(
        f"govit.registry.system.{kind}",
        source=SOURCE,
        subject=str(system_id),
        data=state,
        time=datetime.now(UTC),
    )


class Kit:
    def __init__(self, db: Database, tables: EventTables, systems: Table) -> None:
        self.db, self.tables, self.systems = db, tables, systems
        self.projection = Projection(systems)
        # handle_once needs no bus: it is the inbox and the handler, in one transaction.
        self.consumer = Consumer(
            db,
            tables,
            bus=None,  # type: ignore[arg-type]
            durable="approval-systems",
            subject="govit.registry.system.*",
            handler=self.projection.apply,
        )

    async def deliver(self, event: Event) -> bool:
        async with self.db.transaction() as session:
            return await self.consumer.handle_once(session, event)

    async def stored(self, system_id: uuid.UUID) -> dict[str, Any] | None:
        async with self.db.transaction() as session:
            row = (
                (await session.execute(select(self.systems).where(self.systems.c.id == system_id)))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    async def inbox_count(self) -> int:
        async with self.db.transaction() as session:
            query = select(func.count()).select_from(self.tables.inbox)
            return int(await session.scalar(query) or 0)


@pytest.fixture
async def kit(databases: Databases) -> AsyncIterator[Kit]:
    metadata: MetaData = new_metadata()
    tables = event_tables(metadata)
    # What approval keeps of a system: the test's own table, not the registry's.
    systems = Table(
        "catalogued_systems",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("name", Text, nullable=False),
        Column("status", Text, nullable=False),
        Column("sharing_connected", Boolean, nullable=False),
        Column("version", Integer, nullable=False),
    )
    db = Database(await databases.create(), pool_size=4)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield Kit(db, tables, systems)
    await db.dispose()


async def test_the_first_event_of_a_subject_inserts_its_state(kit: Kit) -> None:
    system_id = uuid.uuid4()
    assert await kit.deliver(system_event(system_id, 1, "planned"))
    assert await kit.stored(system_id) == {
        "id": system_id,
        "name": "水资源管理系统 v1",
        "status": "planned",
        "sharing_connected": True,
        "version": 1,
    }


async def test_a_newer_version_replaces_the_state_and_an_older_one_arriving_late_is_ignored(
    kit: Kit,
) -> None:
    system_id = uuid.uuid4()
    first, second, third = (system_event(system_id, v) for v in (1, 2, 3))
    await kit.deliver(first)
    await kit.deliver(third)  # JetStream redelivered the second after a nak
    assert (await kit.stored(system_id) or {})["version"] == 3
    assert await kit.deliver(second), "a new event id: the handler runs, and keeps v3"
    stored = await kit.stored(system_id)
    assert stored is not None
    assert (stored["version"], stored["name"]) == (3, "水资源管理系统 v3")


async def test_the_same_version_again_under_another_event_id_changes_nothing(kit: Kit) -> None:
    system_id = uuid.uuid4()
    await kit.deliver(system_event(system_id, 2, "operating"))
    assert await kit.deliver(system_event(system_id, 2, "retired"))
    assert (await kit.stored(system_id) or {})["status"] == "operating"


async def test_a_redelivered_event_is_stopped_by_the_inbox(kit: Kit) -> None:
    system_id = uuid.uuid4()
    event = system_event(system_id, 1)
    assert await kit.deliver(event)
    async with kit.db.transaction() as session:  # someone edits the copy meanwhile
        await session.execute(
            kit.systems.update().where(kit.systems.c.id == system_id).values(name="edited")
        )
    assert not await kit.deliver(event), "the inbox has this event id: the handler never ran"
    assert (await kit.stored(system_id) or {})["name"] == "edited"
    assert await kit.inbox_count() == 1


async def test_two_versions_applied_concurrently_end_with_the_newer(kit: Kit) -> None:
    system_id = uuid.uuid4()
    await kit.deliver(system_event(system_id, 1))
    for _ in range(5):
        version = (await kit.stored(system_id) or {})["version"]
        older, newer = system_event(system_id, version + 1), system_event(system_id, version + 2)
        await asyncio.gather(kit.deliver(newer), kit.deliver(older))
        assert (await kit.stored(system_id) or {})["version"] == version + 2


async def test_an_event_without_a_version_is_refused_not_guessed(kit: Kit) -> None:
    event = system_event(uuid.uuid4(), 1)
    unversioned = Event(**{**vars(event), "data": {**event.data, "version": None}})
    with pytest.raises(ValueError, match="carries no version"):
        await kit.deliver(unversioned)
    assert await kit.inbox_count() == 0, "refused in the inbox's transaction: retried later"
