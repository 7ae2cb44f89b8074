"""Who may read or change which record: the suite's one object-level access rule.

The rule (ARCHITECTURE.md, "Access"), for a record owned by a unit (``org``) in a
jurisdiction:

- every grant is inside the token's own jurisdiction: a record of another
  jurisdiction is nobody's business (admins included: an admin of jincheng runs
  jincheng's directory, not leshan's; docs/access.md says why);
- **read**: a ``unit`` reads its own org's records and those it co-owns; the
  oversight roles (authority, finance, reviewer, auditor, platform) and ``admin``
  read every record of the jurisdiction; a *directory* record (the unit directory)
  is read by every role of the jurisdiction;
- **write**: a ``unit`` writes its own org's records (co-owners read, they do not
  write); ``admin`` writes any record of the jurisdiction; oversight roles write
  nothing here (what they do, they do through their own routes and roles).

The rule is written once, as a small condition (``condition``). The Python predicate
(``allows``) evaluates it on a loaded record; ``shared.auth.access_sql`` turns the
same condition into a SQL WHERE clause, so a list and a get-by-id filter in the
database with exactly the predicate's answer (a test on PostgreSQL holds them to it).
A record the caller may not read answers 404, exactly like one that does not exist.

A service adds only its own extras on top (the registry: which platform may report
cloud migration).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.auth.principal import Principal, Role

# Roles that read every record of their own jurisdiction.
OVERSIGHT_ROLES = frozenset(
    {Role.AUTHORITY, Role.FINANCE, Role.REVIEWER, Role.AUDITOR, Role.PLATFORM}
)


class Level(StrEnum):
    READ = "read"
    WRITE = "write"


# What reaches a whole jurisdiction, per level; ``unit`` reaches its own org only.
_JURISDICTION_WIDE = {
    Level.READ: OVERSIGHT_ROLES | {Role.ADMIN},
    Level.WRITE: frozenset({Role.ADMIN}),
}


@dataclass(frozen=True, slots=True)
class Ownership:
    """Where a kind of record keeps what the rule reads (attribute or column names).

    ``org``: the owning unit's id (None: no owner, only admins write it).
    ``co_owners``: a list (SQL: an array) of co-owning unit ids, if the record has them.
    ``directory``: every role of the jurisdiction reads it (the unit directory).
    """

    jurisdiction: str = "jurisdiction"
    org: str | None = "org_id"
    co_owners: str | None = None
    directory: bool = False


# --- the condition: a tiny expression tree both forms are built from --------------


@dataclass(frozen=True, slots=True)
class Equals:
    """``field`` equals the principal's ``value`` (an id or a profile id)."""

    field: str
    value: str


@dataclass(frozen=True, slots=True)
class Contains:
    """The list in ``field`` holds ``value``."""

    field: str
    value: str


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """``AnyOf(())`` is false: no grant applies."""

    parts: tuple[Condition, ...]


EVERYTHING = AllOf(())
NOTHING = AnyOf(())
Condition = Equals | Contains | AllOf | AnyOf


def condition(principal: Principal, kind: Ownership, level: Level = Level.READ) -> Condition:
    """The records of ``kind`` that ``principal`` may read (or write), as a condition."""
    wide = _JURISDICTION_WIDE[level]
    if level == Level.READ and kind.directory:
        wide = frozenset(Role)
    if principal.roles & wide:
        reach: Condition = EVERYTHING
    elif Role.UNIT in principal.roles:
        owned: list[Condition] = []
        if kind.org is not None:
            owned.append(Equals(kind.org, principal.org))
        if kind.co_owners is not None and level == Level.READ:
            owned.append(Contains(kind.co_owners, principal.org))
        reach = AnyOf(tuple(owned))
    else:
        reach = NOTHING
    return AllOf((Equals(kind.jurisdiction, principal.jurisdiction), reach))


# --- the Python predicate ----------------------------------------------------------


def allows(principal: Principal, record: Any, kind: Ownership, level: Level = Level.READ) -> bool:
    """May ``principal`` read (or write) ``record`` (an object or a mapping)?"""
    return holds(condition(principal, kind, level), record)


def holds(cond: Condition, record: Any) -> bool:
    match cond:
        case Equals(field, value):
            return same_id(_get(record, field), value)
        case Contains(field, value):
            return any(same_id(item, value) for item in _get(record, field) or ())
        case AllOf(parts):
            return all(holds(part, record) for part in parts)
        case AnyOf(parts):
            return any(holds(part, record) for part in parts)
    raise TypeError(f"not an access condition: {cond!r}")  # pragma: no cover


def same_id(stored: Any, claimed: str) -> bool:
    """A stored value against a token's claim: a UUID by value (the SQL form binds the
    same parsed UUID), anything else as exact text (PostgreSQL's ``=`` on text)."""
    if isinstance(stored, uuid.UUID):
        return as_uuid(claimed) == stored
    return isinstance(stored, str) and stored == claimed


def as_uuid(value: str) -> uuid.UUID | None:
    """The claim as a UUID, or None when it is none (then it matches no UUID column)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _get(record: Any, field: str) -> Any:
    return record[field] if isinstance(record, Mapping) else getattr(record, field)


def readable_by(principal: Principal, records: Iterable[Any], kind: Ownership) -> list[Any]:
    """The records ``principal`` may read, in order (for what is already in memory)."""
    cond = condition(principal, kind)
    return [record for record in records if holds(cond, record)]
