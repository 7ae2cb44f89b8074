"""The evaluation service's tables (its own database)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import new_metadata
from shared.events import event_tables


class Base(DeclarativeBase):
    metadata = new_metadata()


events = event_tables(Base.metadata)
