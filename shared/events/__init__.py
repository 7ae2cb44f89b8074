"""Events: CloudEvents envelopes, JSON Schemas, the transactional outbox and the inbox."""

from shared.events.envelope import Event, decode_event, new_event
from shared.events.outbox import emit, emit_many
from shared.events.tables import EventTables, event_tables

__all__ = ["Event", "EventTables", "decode_event", "emit", "emit_many", "event_tables", "new_event"]
