"""A service's publisher: its CloudEvents source and its outbox, known once.

Each service makes one, next to its tables, and its use cases write events through
it without repeating either::

    publisher = Publisher("registry", events.outbox)                 # models.py
    await publisher.publish(session, "govit.registry.unit.registered", unit.id, data, now)

The type must be the service's own (``govit.<service>.<entity>.<verb>``), the data
is checked against the type's JSON Schema, and the row is written in the caller's
transaction (the transactional outbox: ``outbox.emit_many``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.envelope import Event, new_event
from shared.events.outbox import emit_many


@dataclass(frozen=True)
class Publisher:
    service: str
    outbox: Table

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of every event the service writes."""
        return f"/govit/{self.service}"

    def event(
        self,
        type_: str,
        subject: uuid.UUID | str,
        data: dict[str, Any],
        time: datetime,
        *,
        validate: bool = True,
    ) -> Event:
        """An event of this service (``validate=False``: the rest of a checked batch)."""
        if not type_.startswith(f"govit.{self.service}."):
            raise ValueError(f"{self.service} publishes govit.{self.service}.* only, not {type_}")
        return new_event(
            type_, source=self.source, subject=str(subject), data=data, time=time, validate=validate
        )

    async def publish(
        self,
        session: AsyncSession,
        type_: str,
        subject: uuid.UUID | str,
        data: dict[str, Any],
        time: datetime,
    ) -> Event:
        event = self.event(type_, subject, data, time)
        await emit_many(session, self.outbox, [event])
        return event

    async def publish_many(self, session: AsyncSession, events: Sequence[Event]) -> None:
        """Events built with ``event`` (a bulk batch), in one INSERT."""
        await emit_many(session, self.outbox, events)
