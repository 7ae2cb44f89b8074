"""The fast read path: a Core ``SELECT`` run straight on the asyncpg connection.

``session.execute(select(...))`` spends most of a small page's time in SQLAlchemy
itself (the ORM execution layer, the statement's compile-cache lookup, the result
proxy), measured at 0.5-0.6 ms a request against ~0.1 ms for asyncpg running the
same SQL on the same connection (bench/read_path.py, docs/services.md "A fast read
path"). ``fetch`` keeps what SQLAlchemy is good at (building and compiling the
statement, once per shape) and hands the compiled SQL and its parameters to asyncpg,
whose own statement cache prepares it once per pooled connection::

    rows = await fetch(session, select(System.id, System.name).where(...), {"after": x})

- the rows are asyncpg ``Record``s: ``row["name"]`` (read-only mappings, keyed by the
  statement's column labels; ``dict(row)`` for a plain dict);
- the statement is compiled once per shape (SQLAlchemy's cache key, so two statements
  built alike share an entry) and kept (``COMPILED_KEPT``, least recent forgotten);
- values come from the statement's own literals, overridden by ``params`` for the
  ``bindparam("name")``s it holds: build a statement once per shape with bindparams
  (module level or ``lru_cache``) and a request costs its parameters only;
- it runs on the session's connection when the session has one, so it sees what the
  session sees (a transaction's own writes, the test's rolled-back transaction, the
  block of ``snapshot``/``custom_plans``); a GET's session that has none borrows a
  pooled connection for the one statement (at most the pool's size at once);
- a statement whose columns need a result conversion asyncpg does not do itself
  (a ``TypeDecorator``, an ``Enum`` class) or that SQLAlchemy expands at execution
  time (``IN`` lists, ``literal_execute``) is refused with ``TypeError`` at its first
  run: use ``session.execute`` for those (or ``any_()`` instead of ``in_()``).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import asyncpg
from asyncpg import Record
from sqlalchemy import ColumnElement, type_coerce
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import Pool, QueuePool
from sqlalchemy.sql import Select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.sqltypes import NullType
from sqlalchemy.types import ARRAY, Float, Numeric, TypeDecorator
from sqlalchemy.util import greenlet_spawn

from shared.db.session import AUTOCOMMIT

COMPILED_KEPT = 2048
_Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Compiled:
    """One statement shape, ready for asyncpg: ``$n`` SQL and how to fill each ``$n``."""

    sql: str
    names: tuple[str, ...]  # the bind parameter behind $1, $2, ...
    processors: tuple[_Processor | None, ...]
    compiled: SQLCompiler

    def arguments(
        self, extracted: Sequence[Any] | None, params: Mapping[str, Any] | None
    ) -> list[Any]:
        values = self.compiled.construct_params(
            params, extracted_parameters=extracted, escape_names=False
        )
        args = [values[name] for name in self.names]
        for index, process in enumerate(self.processors):
            if process is not None and args[index] is not None:
                args[index] = process(args[index])
        return args


class _Kept:
    """A bounded memory of compiled shapes (an ``OrderedDict`` used as an LRU)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Any, Compiled] = OrderedDict()

    def get(self, key: Any) -> Compiled | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: Any, value: Compiled) -> None:
        self._entries[key] = value
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()


_kept = _Kept(COMPILED_KEPT)


def compile_for_asyncpg(statement: Select[Any], dialect: Dialect) -> Compiled:
    """``statement`` compiled for asyncpg (``$n`` placeholders); TypeError if it cannot be
    run without SQLAlchemy's execution layer.

    Compiled with its cache key, so that the literals of another statement of the same
    shape (the key's ``bindparams``) fill it in ``Compiled.arguments``.
    """
    key = statement._generate_cache_key()
    if key is None:
        raise TypeError("this statement has no cache key: use session.execute")
    compiled = statement.compile(dialect=dialect, cache_key=key)
    if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
        raise TypeError("fetch runs SELECTs compiled with positional ($n) parameters")
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise TypeError(
            "this statement is expanded at execution time (IN list, literal_execute): "
            "use session.execute, or any_() for a list"
        )
    for column in compiled._result_columns:
        if column.type._cached_result_processor(dialect, None) is not None:
            raise TypeError(
                f"column {column.keyname!r} ({column.type!r}) needs SQLAlchemy's result "
                "conversion: use session.execute"
            )
    bind_processors: Mapping[str, Any] = compiled._bind_processors
    names = tuple(compiled.positiontup)
    return Compiled(
        sql=compiled.string,
        names=names,
        processors=tuple(bind_processors.get(name) for name in names),
        compiled=compiled,
    )


def fetchable(*columns: ColumnElement[Any]) -> tuple[ColumnElement[Any], ...]:
    """``columns`` to select for ``fetch``, those whose SQLAlchemy result conversion only
    redoes what asyncpg already did read as asyncpg returns them, under their own keys:

    - an ``ARRAY`` (a list; a ``uuid[]`` one holds asyncpg's ``UUID``s, a ``uuid.UUID``
      subclass, written as the same string);
    - a ``NUMERIC`` column (a ``Numeric``, or a ``TypeDecorator`` over one such as
      ``shared.db.base.Money``): asyncpg returns a ``Decimal`` with the column's scale.

    Other columns are kept as they are (``fetch`` still refuses the ones it cannot run).
    """
    return tuple(
        type_coerce(column, NullType()).label(column.key)
        if column.key and _as_asyncpg_returns(column.type)
        else column
        for column in columns
    )


def _as_asyncpg_returns(type_: Any) -> bool:
    impl = type_.impl_instance if isinstance(type_, TypeDecorator) else type_
    if isinstance(impl, ARRAY):
        return True
    return isinstance(impl, Numeric) and not isinstance(impl, Float) and impl.asdecimal


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under ``session`` (checked out if it had none yet)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


def _still_usable(error: BaseException, driver: Any) -> bool:
    """Whether a connection whose statement raised ``error`` can serve the next one.

    Only an error PostgreSQL answered about the statement itself (a bad value, say)
    leaves the connection as it was. A connection that was shut down (a restart, a
    killed backend: the error may arrive before the socket closes), broken, or left
    mid-statement by a cancelled request is dropped from the pool instead.
    """
    return (
        isinstance(error, asyncpg.PostgresError)
        and not isinstance(error, _SHUT_DOWN)
        and not driver.is_closed()
    )


_SHUT_DOWN = (
    asyncpg.exceptions.OperatorInterventionError,  # 57: admin shutdown, crash shutdown
    asyncpg.exceptions.PostgresConnectionError,  # 08: connection exceptions
)


async def fetch(
    session: AsyncSession, statement: Select[Any], params: Mapping[str, Any] | None = None
) -> list[Record]:
    """The rows of ``statement`` (with ``params`` for its bindparams), run by asyncpg.

    A ``Database.reading()`` session that holds no connection yet (a GET's, outside a
    ``snapshot`` block) does not take one: the statement runs on a connection taken
    from the engine's pool and given back at once, which skips the session's own
    checkout (~0.3 ms against ~0.08 ms). Any other session runs it on its connection.
    """
    key = statement._generate_cache_key()
    if key is None:
        raise TypeError("this statement has no cache key: use session.execute")
    bind = session.get_bind()
    entry_key = (bind.dialect.name, key.key)
    compiled = _kept.get(entry_key)
    if compiled is None:
        compiled = compile_for_asyncpg(statement, bind.dialect)
        _kept.put(entry_key, compiled)
    args = compiled.arguments(key.bindparams, params)
    if not (session.info.get(AUTOCOMMIT) and not session.in_transaction()):
        held = await driver_connection(session)
        rows: list[Record] = await held.fetch(compiled.sql, *args)
        return rows
    engine: Any = session.bind
    async with _gate(engine.sync_engine.pool):
        pooled = await engine.raw_connection()
        driver: Any = pooled.driver_connection
        try:
            rows = await driver.fetch(compiled.sql, *args)
        except BaseException as exc:
            if not _still_usable(exc, driver):  # never handed out again
                await greenlet_spawn(pooled.invalidate, exc)
            raise
        finally:
            await greenlet_spawn(pooled.close)
    return rows


_gates: WeakKeyDictionary[Pool, asyncio.Semaphore] = WeakKeyDictionary()


def _gate(pool: Pool) -> asyncio.Semaphore:
    """At most the pool's size of fast reads at once. Past it a read waits its turn
    for a pooled connection: an overflow connection would be opened for it and closed
    on its return (a TCP connect, authentication and the driver's setup, per read),
    which under 32 concurrent pages cost more than the pages' own SQL
    (bench/read_path.py). Writes keep the pool's overflow."""
    gate = _gates.get(pool)
    if gate is None:
        size = pool.size() if isinstance(pool, QueuePool) else 1
        gate = _gates[pool] = asyncio.Semaphore(max(1, size))
    return gate
