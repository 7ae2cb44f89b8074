"""The revision trail (shared/revisions.py) and the publisher (shared/events/publisher.py),
on the real PostgreSQL; and the registry's migrations matching the kit's tables."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, MetaData, Table, Uuid, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from services.registry.models import Base, events, publisher
from shared.auth import Principal
from shared.db.session import Database
from shared.events import event_tables
from shared.events.publisher import Publisher
from shared.ids import new_id
from shared.revisions import diff, record, revision, revision_table, trail
from tests.support.checks import assert_cloudevent
from tests.support.databases import Databases

metadata = MetaData()
projects = Table("projects", metadata, Column("id", Uuid, primary_key=True))
project_revisions = revision_table(
    metadata, "project_revisions", "project_id", references="projects.id"
)
kit_events = event_tables(metadata)
AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
ALICE = Principal(
    sub="alice", org=str(uuid.UUID(int=7)), jurisdiction="jincheng", roles=frozenset()
)
BOB = Principal(sub="bob", org=str(uuid.UUID(int=8)), jurisdiction="jincheng", roles=frozenset())


@pytest.fixture(scope="module")
async def db(databases: Databases) -> AsyncIterator[Database]:
    database = Database(await databases.create())
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield database
    await database.dispose()


def test_diff_keeps_what_changed_with_before_and_after() -> None:
    assert diff(None, {"name": "甲", "budget": None}) == {"name": {"before": None, "after": "甲"}}
    before = {"name": "甲", "status": "draft", "budget": 10}
    after = {"name": "甲", "status": "submitted", "budget": 12}
    assert diff(before, after) == {
        "status": {"before": "draft", "after": "submitted"},
        "budget": {"before": 10, "after": 12},
    }
    assert diff(before, before) == {}


async def test_a_trail_is_who_when_and_before_after_oldest_first(db: Database) -> None:
    project = new_id()
    async with db.transaction() as session:
        await session.execute(projects.insert().values(id=project))
        # Written out of order: the trail is ordered by time, not by insertion.
        later = diff({"status": "draft"}, {"status": "submitted"})
        await record(session, project_revisions, project, BOB, later, AT + timedelta(hours=1))
        await record(
            session, project_revisions, project, ALICE, diff(None, {"status": "draft"}), AT
        )
    async with db.transaction() as session:
        items = await trail(session, project_revisions, project)
        assert await trail(session, project_revisions, new_id()) == []
    assert [(i["actor"], i["actor_org"], i["at"]) for i in items] == [
        ("alice", ALICE.org, AT),
        ("bob", BOB.org, AT + timedelta(hours=1)),
    ]
    assert [i["changes"] for i in items] == [
        {"status": {"before": None, "after": "draft"}},
        {"status": {"before": "draft", "after": "submitted"}},
    ]
    assert all(isinstance(i["id"], uuid.UUID) and i["project_id"] == project for i in items)


async def test_a_revision_of_no_record_is_refused(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await record(session, project_revisions, new_id(), ALICE, {}, AT)


async def test_batched_revisions_are_one_insert(db: Database) -> None:
    ids = [new_id() for _ in range(3)]
    rows = [
        revision(project_revisions, i, ALICE, diff(None, {"n": n}), AT) for n, i in enumerate(ids)
    ]
    async with db.transaction() as session:
        await session.execute(projects.insert(), [{"id": i} for i in ids])
        await session.execute(project_revisions.insert(), rows)
        found = await session.scalars(
            select(project_revisions.c.project_id).where(project_revisions.c.project_id.in_(ids))
        )
        assert sorted(found) == sorted(ids)


async def test_the_publisher_writes_its_services_events_to_its_outbox(db: Database) -> None:
    kit = Publisher("registry", kit_events.outbox)
    unit = new_id()
    data = {"id": str(unit), "name": "临汾市水利局", "jurisdiction": "linfen-water", "parent": None}
    async with db.transaction() as session:
        event = await kit.publish(session, "govit.registry.unit.registered", unit, data, AT)
    async with db.transaction() as session:
        row = (
            await session.execute(
                select(kit_events.outbox).where(kit_events.outbox.c.id == uuid.UUID(event.id))
            )
        ).one()
    assert row.type == "govit.registry.unit.registered" and row.subject == str(unit)
    assert_cloudevent(row.envelope, kit.source)
    assert kit.source == "/govit/registry" == publisher.source
    assert publisher.outbox is events.outbox
    with pytest.raises(ValueError, match=r"govit\.registry"):
        kit.event("govit.funding.disbursement.made", unit, data, AT)


async def test_the_registry_migrations_build_the_kits_tables(databases: Databases) -> None:
    """Migration 0005 and the models agree on the kit's tables (autogenerate finds no
    difference), so the next autogenerated migration does not drop or re-create them."""
    database = Database(await databases.migrated("registry"))
    kit_tables = {"system_revisions", "idempotency_keys"}

    def include(item: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
        table = name if kind == "table" else getattr(getattr(item, "table", None), "name", None)
        return table in kit_tables

    def differences(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"include_object": include})
        return list(compare_metadata(context, Base.metadata))

    try:
        async with database.engine.connect() as conn:
            assert await conn.run_sync(differences) == []
    finally:
        await database.dispose()
