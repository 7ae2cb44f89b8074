"""The access clause is built once per condition and source (shared/auth/access_sql.py):
a principal asking again reuses its clause, another principal never gets it, and the
memory is bounded. That the clause agrees with the predicate is test_auth_access.py's."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, Table, Text, Uuid, select
from sqlalchemy.dialects import postgresql

from shared.auth import Level, Ownership, Principal, Role
from shared.auth.access_sql import CLAUSES_KEPT, _clause, access_clause

A = "01a20000-0000-7000-8000-00000000000a"
B = "01a20000-0000-7000-8000-00000000000b"
table = Table("cached_records", MetaData(), Column("org_id", Uuid), Column("jurisdiction", Text))
OWNED = Ownership()


def unit(org: str, jurisdiction: str = "jincheng") -> Principal:
    return Principal("tester", org, jurisdiction, frozenset({Role.UNIT}))


def rendered(clause: object) -> tuple[str, dict[str, object]]:
    compiled = select(table.c.org_id).where(clause).compile(dialect=postgresql.dialect())  # type: ignore[arg-type]
    return str(compiled), dict(compiled.params)


def test_the_same_principal_reuses_its_clause() -> None:
    first = access_clause(unit(A), table, OWNED)
    assert access_clause(unit(A), table, OWNED) is first


def test_other_principals_levels_and_sources_get_their_own() -> None:
    clause = access_clause(unit(A), table, OWNED)
    others = [
        access_clause(unit(B), table, OWNED),
        access_clause(unit(A, "leshan"), table, OWNED),
        access_clause(Principal("tester", A, "jincheng", frozenset({Role.ADMIN})), table, OWNED),
        access_clause(unit(A), table.alias("other"), OWNED),
    ]
    assert all(other is not clause for other in others)
    _sql, params = rendered(clause)
    assert sorted(map(str, params.values())) == [A, "jincheng"]
    assert rendered(others[0])[1] != params
    # A unit's write rule is its read rule here (no co-owners): one condition, one clause.
    assert access_clause(unit(A), table, OWNED, Level.WRITE) is clause


def test_the_memory_is_bounded() -> None:
    assert _clause.cache_info().maxsize == CLAUSES_KEPT
