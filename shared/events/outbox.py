"""Writing an event: a row in the caller's transaction, and a nudge to the relay.

``pg_notify`` is transactional: the relay hears it only when the row commits, so
it never wakes for an event that was rolled back.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.envelope import Event

NOTIFY_CHANNEL = "govit_outbox"


async def emit(session: AsyncSession, outbox: Table, event: Event) -> None:
    await session.execute(
        insert(outbox).values(
            id=uuid.UUID(event.id),
            type=event.type,
            subject=event.subject,
            envelope=event.envelope(),
        )
    )
    await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, event.type)))
