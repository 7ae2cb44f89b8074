"""The revision trail: who changed a record, when, and each field's before and after.

Every service that keeps records people change (systems, projects, rectifications)
keeps one revision table per record type, written in the same transaction as the
change, so the trail can never disagree with the state::

    system_revisions = revision_table(Base.metadata, "system_revisions", "system_id",
                                      references="systems.id")       # models.py
    await record(session, system_revisions, system.id, principal, diff, now)
    items = await trail(session, system_revisions, system.id)        # oldest first

``changes`` is ``{field: {"before": ..., "after": ...}}`` (``diff`` builds it), the
shape API.md's ``/history`` answers with.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    Table,
    Text,
    Uuid,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal
from shared.ids import new_id

Changes = dict[str, dict[str, Any]]


def revision_table(
    metadata: MetaData, name: str, subject: str, *, references: str | None = None
) -> Table:
    """``name`` with ``id``, ``<subject>`` (the record), ``at``, ``actor``, ``actor_org``,
    ``changes``; indexed for one record's trail in order."""
    subject_column = (
        Column(subject, Uuid, ForeignKey(references), nullable=False)
        if references
        else Column(subject, Uuid, nullable=False)
    )
    return Table(
        name,
        metadata,
        Column("id", Uuid, primary_key=True, default=new_id),
        subject_column,
        Column("at", DateTime(timezone=True), nullable=False),
        Column("actor", Text, nullable=False),  # the token's sub
        Column("actor_org", Text, nullable=False),  # the token's org, as it was then
        Column("changes", JSONB, nullable=False),
        Index(f"ix_{name}_{subject}_at", subject, "at", "id"),
    )


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> Changes:
    """``{field: {before, after}}`` for each field of ``after`` that changed (on
    creation, with ``before`` None: each field that is set)."""
    old = before or {}
    return {
        field: {"before": old.get(field), "after": value}
        for field, value in after.items()
        if old.get(field) != value
    }


def revision(
    table: Table, subject_id: uuid.UUID, principal: Principal, changes: Changes, at: datetime
) -> dict[str, Any]:
    """One revision row, for a batched INSERT (``record`` writes one)."""
    subject = _subject(table)
    return {
        "id": new_id(),
        subject: subject_id,
        "at": at,
        "actor": principal.sub,
        "actor_org": principal.org,
        "changes": changes,
    }


async def record(
    session: AsyncSession,
    table: Table,
    subject_id: uuid.UUID,
    principal: Principal,
    changes: Changes,
    at: datetime,
) -> None:
    await session.execute(insert(table), [revision(table, subject_id, principal, changes, at)])


async def trail(
    session: AsyncSession, table: Table, subject_id: uuid.UUID
) -> Sequence[dict[str, Any]]:
    """A record's revisions, oldest first, as plain dicts."""
    query = (
        select(table).where(table.c[_subject(table)] == subject_id).order_by(table.c.at, table.c.id)
    )
    return [dict(row) for row in (await session.execute(query)).mappings()]


def _subject(table: Table) -> str:
    # The one column that is not part of every revision table.
    [subject] = [c.key for c in table.columns if c.key not in _COMMON]
    return subject


_COMMON = frozenset({"id", "at", "actor", "actor_org", "changes"})
