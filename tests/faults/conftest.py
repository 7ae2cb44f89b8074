"""Fault tests reuse the event kit: a database with the event tables and an ``effects`` table."""

from tests.shared.test_events_delivery import kit

__all__ = ["kit"]
