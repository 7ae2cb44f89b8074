"""Database kit: one async engine per service, one commit point per request or event."""

from shared.db.base import NAMING_CONVENTION, Money, new_metadata, uuid_pk
from shared.db.session import Database, session_dependency

__all__ = [
    "NAMING_CONVENTION",
    "Database",
    "Money",
    "new_metadata",
    "session_dependency",
    "uuid_pk",
]
