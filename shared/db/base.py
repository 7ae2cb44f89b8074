"""Declarative pieces every service's ``models.py`` builds on.

Each service has its own ``MetaData`` (database-per-service): a test process that
imports two services must not see their tables collide in one registry.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import MetaData, Numeric
from sqlalchemy.types import TypeDecorator

from shared.money import to_yuan

# Stable constraint names, so migrations written today still match tomorrow.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class Money(TypeDecorator[Decimal]):
    """NUMERIC(18,2) that always hands back a Decimal rounded to the cent."""

    impl = Numeric(18, 2, asdecimal=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Decimal | None:
        return None if value is None else to_yuan(value)

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        return None if value is None else to_yuan(value)
