"""Who is calling: the identity a verified token carries."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Roles the identity platform grants (ARCHITECTURE.md, "Auth")."""

    UNIT = "unit"
    AUTHORITY = "authority"
    FINANCE = "finance"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"
    PLATFORM = "platform"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller. ``org`` is a unit id; ``jurisdiction`` is a policy profile id.

    No role implies another (an admin is not a finance officer): a route states
    every role it accepts. ``scopes`` are the token's OAuth 2 ``scope`` values
    (RFC 8693 §4.2): what tells two clients of one role apart (``shared.auth.scopes``).
    """

    sub: str
    org: str
    jurisdiction: str
    roles: frozenset[Role]
    scopes: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Normalise plain strings to Role so ``roles`` is uniform; unknown names raise.
        object.__setattr__(self, "roles", frozenset(Role(r) for r in self.roles))
        object.__setattr__(self, "scopes", frozenset(self.scopes))

    def has_role(self, *roles: Role | str) -> bool:
        """True when the principal holds at least one of ``roles``."""
        return any(r in self.roles for r in roles)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
