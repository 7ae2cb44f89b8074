"""Writing an event: a row in the caller's transaction, and a nudge to the relay.

``pg_notify`` is transactional: the relay hears it only when the row commits, so
it never wakes for an event that was rolled back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.envelope import Event

NOTIFY_CHANNEL = "govit_outbox"


async def emit(session: AsyncSession, outbox: Table, event: Event) -> None:
    await emit_many(session, outbox, [event])


async def emit_many(session: AsyncSession, outbox: Table, events: Sequence[Event]) -> None:
    """Write many events in one batched INSERT (bulk imports) and nudge the relay once."""
    if not events:
        return
    rows = [
        {
            "id": uuid.UUID(event.id),
            "type": event.type,
            "subject": event.subject,
            "envelope": event.envelope(),
        }
        for event in events
    ]
    await session.execute(insert(outbox), rows)
    await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, events[0].type)))
