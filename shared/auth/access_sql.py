"""The access rule of ``shared.auth.access`` as a SQLAlchemy WHERE clause.

Built from the same ``condition`` the Python predicate evaluates, node by node, so a
list, an export and a get-by-id filter in the database exactly as ``allows`` would
decide on each row. Kept apart from ``access`` so that pure domain code can use the
predicate without importing SQLAlchemy.

Building the clause is most of what a list request spends before its query runs
(SQLAlchemy's operator machinery: ~100 µs for the three comparisons of a unit's
rule), and a client asks again and again with the same token. SQLAlchemy elements
are immutable, so the clause of a given condition on a given source is built once
and reused (``CLAUSES_KEPT`` of them, least recently used forgotten first): the
condition holds the principal's values, so two principals never share a clause.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, Uuid, and_, any_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import ARRAY

from shared.auth.access import (
    AllOf,
    AnyOf,
    Condition,
    Contains,
    Equals,
    Level,
    Ownership,
    as_uuid,
    condition,
)
from shared.auth.principal import Principal


def access_clause(
    principal: Principal, source: Any, kind: Ownership, level: Level = Level.READ
) -> ColumnElement[bool]:
    """The rows of ``source`` (an ORM class or a Core table) ``principal`` may reach."""
    return _clause(condition(principal, kind, level), source)


CLAUSES_KEPT = 4096


@lru_cache(maxsize=CLAUSES_KEPT)
def _clause(cond: Condition, source: Any) -> ColumnElement[bool]:
    return to_sql(cond, source)


def readable(entity: Any, principal: Principal, kind: Ownership) -> Select[Any]:
    """``SELECT entity WHERE readable``: add ``.where(entity.id == ...)`` for a get-by-id,
    whose empty answer is then the 404 of a record that does not exist *or* is not yours."""
    return select(entity).where(access_clause(principal, entity, kind))


Record = TypeVar("Record")


async def readable_one(
    session: AsyncSession,
    entity: type[Record],
    principal: Principal,
    kind: Ownership,
    ident: object,
    *,
    for_update: bool = False,
) -> Record | None:
    """The ``entity`` with id ``ident`` if it exists and ``principal`` may read it, else
    None (the 404 of a record that does not exist *or* is not yours). ``for_update``
    locks the row and refreshes the copy the session may already hold."""
    query = readable(entity, principal, kind).where(entity.id == ident)  # type: ignore[attr-defined]
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    found: Record | None = await session.scalar(query)
    return found


def to_sql(cond: Condition, source: Any) -> ColumnElement[bool]:
    match cond:
        case Equals(field, value):
            column = _column(source, field)
            bound = _bind(column.type, value)
            return false() if bound is None else column == bound
        case Contains(field, value):
            column = _column(source, field)
            item_type = getattr(column.type, "item_type", None)
            if not isinstance(column.type, ARRAY) or item_type is None:
                raise TypeError(f"co-owners column {field!r} must be an ARRAY")
            bound = _bind(item_type, value)
            return false() if bound is None else bound == any_(column)
        case AllOf(parts):
            return and_(true(), *(to_sql(p, source) for p in parts))
        case AnyOf(parts):
            return or_(false(), *(to_sql(p, source) for p in parts))
    raise TypeError(f"not an access condition: {cond!r}")  # pragma: no cover


def _column(source: Any, field: str) -> Any:
    columns = getattr(source, "c", None)  # a Core Table / subquery
    return columns[field] if columns is not None else getattr(source, field)


def _bind(column_type: Any, value: str) -> Any:
    """The claim as the column's type; None when it cannot be one (then nothing matches,
    exactly as ``access.same_id`` answers)."""
    if isinstance(column_type, Uuid):
        return as_uuid(value)
    return value
