"""Database kit: one async engine per service, one commit point per request or event."""

from shared.db.base import NAMING_CONVENTION, Money, new_metadata
from shared.db.session import Database

__all__ = ["NAMING_CONVENTION", "Database", "Money", "new_metadata"]
