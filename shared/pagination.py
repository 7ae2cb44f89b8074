"""Keyset pagination: opaque cursors, ``limit + 1`` rows, LIKE escaping.

A page is "the rows after the last key of the previous page, in key order", never
an OFFSET, so page 2,000 costs what page 1 costs and a row inserted meanwhile is
neither skipped nor shown twice. How a service uses it::

    query = keyset(select(...).where(readable), [System.id], limit, cursor)
    rows, next_cursor = next_page((await session.execute(query)).all(), limit, [System.id])

The cursor is the last row's key, as base64url JSON. It is opaque to clients but not
secret: a forged cursor can only move where a page starts, inside what the caller may
read anyway. Every decoded value is checked against its column's type, so a cursor
this API did not issue is a 422 ``cursor_invalid``, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar, cast

import orjson
from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python
from sqlalchemy import ColumnElement, Select, tuple_

from shared.errors import GovitError

MAX_CURSOR_CHARS = 512
_INT64 = 2**63

RowT = TypeVar("RowT")
Key = Sequence[ColumnElement[Any]]


def cursor_invalid() -> GovitError:
    return GovitError(422, "cursor_invalid", "the cursor is not one this API issued")


def escape_like(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern (use with ``escape="\\\\"``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_cursor(*values: object) -> str:
    """The key of a page's last row as an opaque cursor."""
    plain = [_plain(value) for value in values]
    raw = json.dumps(plain, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _plain(value: object) -> object:
    if isinstance(value, uuid.UUID | datetime):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"a cursor key holds UUIDs, datetimes, ints or strings, not {value!r}")
    return value


def decode_cursor(cursor: str, types: Sequence[type]) -> tuple[Any, ...]:
    """The key values in ``cursor``, each of its type; 422 ``cursor_invalid`` if not."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise cursor_invalid()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("wrong number of key values")
        return tuple(_typed(value, type_) for value, type_ in zip(values, types, strict=True))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise cursor_invalid() from exc


def _typed(value: object, type_: type) -> object:
    if type_ is uuid.UUID and isinstance(value, str):
        return uuid.UUID(value)
    if type_ is datetime and isinstance(value, str):
        at = datetime.fromisoformat(value)
        if at.tzinfo is None:  # every timestamp column here is timestamptz
            raise ValueError("a cursor time carries its offset")
        return at
    if type_ is int and isinstance(value, int) and not isinstance(value, bool):
        if not -_INT64 <= value < _INT64:  # PostgreSQL's bigint: larger would be a 500
            raise ValueError("out of range")
        return value
    if type_ is str and isinstance(value, str):
        if "\x00" in value:  # PostgreSQL text cannot hold NUL
            raise ValueError("NUL in a cursor")
        return value
    raise TypeError(f"{value!r} is not a {type_.__name__}")


def key_types(key: Key) -> list[type]:
    return [column.type.python_type for column in key]


def keyset(query: Select[Any], key: Key, limit: int, cursor: str | None) -> Select[Any]:
    """``query`` ordered by ``key``, after the cursor's row, ``limit + 1`` rows.

    The extra row only says whether a next page exists, without a COUNT.
    """
    if cursor:
        after = decode_cursor(cursor, key_types(key))
        if len(key) == 1:
            query = query.where(key[0] > after[0])
        else:  # a row comparison, which a composite index answers as one range
            query = query.where(tuple_(*key) > tuple_(*after))
    return query.order_by(*key).limit(limit + 1)


def next_page(rows: Sequence[RowT], limit: int, key: Key) -> tuple[Sequence[RowT], str | None]:
    """The page and the cursor of the next one (None on the last page)."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(*(_value(last, column) for column in key))


def _value(row: object, column: ColumnElement[Any]) -> object:
    name = getattr(column, "key", None)
    if name is None:
        raise TypeError(f"{column!r} has no name to read from a row")
    mapping = getattr(row, "_mapping", None)
    if mapping is not None:  # a Core row
        return mapping[name]
    if isinstance(row, dict) or hasattr(row, "keys"):  # a dict, an asyncpg Record
        return cast(Mapping[str, object], row)[name]
    return getattr(row, name)  # an ORM object


# --- a list route's query string ----------------------------------------------------------

ModelT = TypeVar("ModelT", bound=BaseModel)


def query_model(model: type[ModelT]) -> Callable[[Request], Awaitable[ModelT]]:
    """A dependency reading ``model`` (filters, ``limit``, ``cursor``) from the query
    string in one pydantic validation: ``Annotated[Model, Depends(query_model(Model))]``
    with ``openapi_extra=query_parameters(Model)`` on the route.

    The same answer as FastAPI's ``Annotated[Model, Query()]`` (the last of repeated
    keys wins; an unknown key is refused when the model forbids extras; a refusal is
    the 422 of ``RequestValidationError`` with ``("query", field)`` locations), at a
    fraction of its cost: FastAPI inspects each field's annotation on every request,
    most of what a small page costs beside its SQL (bench/read_path.py).
    """

    async def dependency(request: Request) -> ModelT:  # async: a def would run in a thread
        try:
            return model.model_validate(dict(request.query_params))
        except ValidationError as exc:
            raise RequestValidationError(
                [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
            ) from None

    return dependency


def query_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model``'s fields as the query parameters FastAPI
    itself writes for ``Annotated[model, Query()]`` (generated by FastAPI, not by hand)."""
    probe = FastAPI()

    async def probe_route(query: Any) -> None:
        """Never called: only documented."""

    probe_route.__annotations__ = {"query": Annotated[model, Query()], "return": None}
    probe.get("/")(probe_route)
    operation = probe.openapi()["paths"]["/"]["get"]
    return {"parameters": operation.get("parameters", [])}


# --- a page's answer --------------------------------------------------------------------------

_ORJSON = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def json_bytes(value: Any) -> bytes:
    """``value`` as JSON, byte for byte what ``pydantic_core.to_json`` writes for it
    (UTC times with ``Z``, UUIDs as strings, CJK as itself), by orjson, ~4x faster on a
    page of 50 systems; what orjson does not know (``Decimal``, ``set``, a model) is
    handed to pydantic's own conversion."""
    return orjson.dumps(value, default=to_jsonable_python, option=_ORJSON)


def page_response(items: Sequence[Any], next_cursor: str | None) -> Response:
    """A list route's answer (``{"items": [...], "next_cursor": ...}``), serialised once:
    the rows come from typed columns and are shaped by the service's views, so they are
    not validated again against the response model (which still documents them)."""
    body = json_bytes({"items": items, "next_cursor": next_cursor})
    return Response(body, media_type="application/json")
