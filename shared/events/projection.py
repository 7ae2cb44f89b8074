"""A projection: a service's local copy of another service's entity, fed by its events.

Approval needs the registry's systems, funding needs approval's projects, and so on;
none of them may import another service or read its database, so each keeps the
state it needs from the events, which carry the entity's full state and a
``version`` that grows by one with every change (docs/services.md, "A consumer")::

    systems = Projection(catalogue_table)               # columns named like the data
    consumer = Consumer(db, events, bus, durable="approval-systems",
                        subject="govit.registry.system.*", handler=systems.apply)

Two guarantees, one from each side:

- **at most once per event**: ``Consumer.handle_once`` records the event id in the
  inbox in the handler's transaction, so a redelivered event changes nothing;
- **never older over newer**: JetStream may redeliver an old event after a newer one
  was applied (a nak, a retry), so the row is upserted only where the stored
  version is lower than the event's, in one statement (``INSERT .. ON CONFLICT DO
  UPDATE .. WHERE version < excluded.version``): two consumers applying two
  versions at once end with the higher, whichever commits first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.envelope import Event

Row = Callable[[Event], Mapping[str, Any]]


class Projection:
    """Upserts ``table``'s row for an event's subject when the event's version is newer.

    ``row`` builds the row from the event; by default it takes the data's fields
    named like the table's columns (the key column from the event's ``subject``).
    """

    def __init__(
        self, table: Table, *, key: str = "id", version: str = "version", row: Row | None = None
    ) -> None:
        self.table = table
        self.key = table.c[key]
        self.version = table.c[version]
        self.row = row or self._columns_of

    def _columns_of(self, event: Event) -> dict[str, Any]:
        values = {c.key: event.data[c.key] for c in self.table.c if c.key in event.data}
        values[self.key.key] = event.subject or event.data[self.key.key]
        return values

    async def apply(self, session: AsyncSession, event: Event) -> bool:
        """The consumer's handler: True if the event's state is now the stored one."""
        values = dict(self.row(event))
        if values.get(self.version.key) is None:
            # Without a version the order of two events cannot be told: refuse it
            # (the consumer retries, then dead-letters it) rather than guess.
            raise ValueError(f"{event.type} {event.id} carries no {self.version.key}")
        insert = pg_insert(self.table).values(values)
        changed = {name: insert.excluded[name] for name in values if name != self.key.key}
        upsert = insert.on_conflict_do_update(
            index_elements=[self.key],
            set_=changed,
            where=self.version < insert.excluded[self.version.key],
        ).returning(self.key)
        return (await session.execute(upsert)).first() is not None
