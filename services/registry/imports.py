"""Bulk catalogue import and export (API.md: ``POST /systems:import``, ``GET /systems:export``).

An import is all rows or none: every row is checked before anything is written.
Its CPU work (reading the file, validating up to 100,000 rows, checking them
against each unit's profile, building the rows to store) runs in the heavy-work
pool, so the event loop keeps answering other requests; only the queries run on
the loop. The route bounds the whole import by a deadline under the gateway's
route timeout: past it the transaction rolls back and the caller is told so, so
no import ever commits after its caller was told it failed.

A file too large to finish within the gateway's time limit may be sent with
``Prefer: respond-async``: ``queue_import`` stores it with the caller's identity
(one row of ``imports``) and the route answers 202; the import worker
(``import_worker``) then runs ``import_file`` for it, and ``get_import`` reads its
state back.

An export reads the rows in chunks and writes them into a spooled file in the
pool, and the route streams that file.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, Literal, cast

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry import domain, repository, service, views
from services.registry.errors import not_found
from services.registry.models import System, Unit
from services.registry.schemas import SystemCreate, SystemFilters
from services.registry.spreadsheets import (
    COLUMNS,
    CellError,
    Row,
    import_refused,
    parse_bool,
    parse_level,
    read_catalogue,
)
from shared.auth import Principal
from shared.db.session import snapshot
from shared.errors import Violation
from shared.ids import new_id
from shared.policy import load_profile
from shared.spreadsheets import HeavyWork
from shared.spreadsheets.writers import CsvWriter, SheetWriter, XlsxWriter

# Two workers for the process (2 cores); a caller holds two heavy calls at most.
HEAVY = HeavyWork(workers=2, backlog=6, per_caller=2)
# The gateway gives an import 120 s (gateway/settings.py); the registry gives up
# earlier, rolls back, and answers, so a late commit can never follow a 504.
IMPORT_DEADLINE_SECONDS = 90.0
EXPORT_CHUNK = 5000
_BOOL_COLUMNS = ("sharing_connected", "crypto_assessed", "asset_registered")

Parsed = tuple[Row, uuid.UUID | None, SystemCreate]
Create = tuple[SystemCreate, Unit]
Update = tuple[Row, SystemCreate, System]


async def import_file(
    session: AsyncSession, principal: Principal, data: bytes, now: Any
) -> dict[str, Any]:
    with HEAVY.without_gc():  # see shared.spreadsheets.heavy: GC pauses stall the loop
        rows, encoding = await HEAVY.run(read_catalogue, data)
        result = await import_systems(session, principal, rows, now)
    return {**result, "encoding": encoding}


async def import_systems(
    session: AsyncSession, principal: Principal, rows: list[Row], now: Any
) -> dict[str, int]:
    """All rows or none: every row is checked before anything is written.

    ``rows`` is consumed (emptied once validated), and the validated rows are dropped
    once planned: 100,000 rows of cell text are not kept while the import stores.
    """
    parsed, errors = await HEAVY.run(_validate_all, rows)
    rows.clear()
    units = await repository.units(session, {body.org for _, _, body in parsed})
    existing = await repository.systems_for_update(session, {sid for _, sid, _ in parsed if sid})
    creates, updates, problems = await HEAVY.run(_plan, principal, parsed, units, existing)
    del parsed
    errors += problems
    if errors:
        raise import_refused(sorted(errors, key=lambda e: (e.row, e.column)))
    await service.create_systems(session, principal, creates, now, run=HEAVY.run)
    changed = 0
    for row, body, system in updates:
        patch = _row_patch(row, body)
        changed += await service.apply_change(session, system, patch, principal, now)
    return {
        "imported": len(creates) + len(updates),
        "created": len(creates),
        "updated": changed,
        "unchanged": len(updates) - changed,
    }


async def queue_import(
    session: AsyncSession, principal: Principal, data: bytes, now: Any
) -> Mapping[str, Any]:
    """A background import: the file and who sent it, stored in the request's
    transaction (nothing is lost if the process dies before the worker runs it)."""
    return await repository.insert_import(
        session,
        {
            "id": new_id(),
            "org": principal.org,
            "sub": principal.sub,
            "jurisdiction": principal.jurisdiction,
            "roles": sorted(principal.roles),
            "scopes": sorted(principal.scopes),
            "state": "queued",
            "file": data,
            "created_at": now,
        },
    )


async def get_import(
    session: AsyncSession, principal: Principal, import_id: uuid.UUID
) -> Mapping[str, Any]:
    """The import if the caller may read it; else 404, as if it did not exist."""
    found = await repository.readable_import(session, principal, import_id)
    if found is None:
        raise not_found("import", import_id)
    return found


def _validate_all(rows: Sequence[Row]) -> tuple[list[Parsed], list[CellError]]:
    parsed: list[Parsed] = []
    errors: list[CellError] = []
    for row in rows:
        system_id, body, row_errors = _validated(row)
        errors += row_errors
        if body is not None:
            parsed.append((row, system_id, body))
    return parsed, errors


def _plan(
    principal: Principal,
    parsed: Sequence[Parsed],
    units: Mapping[uuid.UUID, Unit],
    existing: Mapping[uuid.UUID, System],
) -> tuple[list[Create], list[Update], list[CellError]]:
    """Which rows create, which update, and what the rules refuse; no I/O."""
    errors: list[CellError] = []
    seen: set[uuid.UUID] = set()
    creates: list[Create] = []
    updates: list[Update] = []
    fields = set(domain.SYSTEM_FIELDS)
    for row, system_id, body in parsed:
        unit = units.get(body.org)
        if not service.may_catalogue(principal, body.org, unit):
            errors.append(
                CellError(
                    row.number,
                    "org",
                    "you may import your own unit's systems only",
                    "只能导入本单位的系统",
                )
            )
            continue
        if unit is None:
            errors.append(
                CellError(
                    row.number, "org", "no such unit in the unit directory", "单位目录中没有该单位"
                )
            )
            continue
        entry = body.model_dump(include=fields)
        errors += [
            CellError(
                row.number,
                field,
                f"{v.rule}: {v.message_zh} / {v.message_en}",
                f"{v.rule}：{v.message_zh}",
            )
            for field, v in domain.entry_problems(entry, load_profile(unit.jurisdiction))
        ]
        if system_id is None:
            creates.append((body, unit))
            continue
        system = existing.get(system_id)
        if system is None or system.org_id != body.org:
            errors.append(
                CellError(
                    row.number,
                    "id",
                    "no such system in this unit's catalogue",
                    "本单位目录中没有该系统",
                )
            )
        elif system_id in seen:
            errors.append(
                CellError(row.number, "id", "the same system appears twice", "同一系统出现了两次")
            )
        elif refusal := _lifecycle_violation(system, _row_patch(row, body)):
            errors.append(
                CellError(
                    row.number,
                    "status",
                    f"{refusal.rule}: {refusal.message_en}",
                    f"{refusal.rule}：{refusal.message_zh}",
                )
            )
        else:
            updates.append((row, body, system))
        seen.add(system_id)
    return creates, updates, errors


def _typed_cells(row: Row) -> tuple[dict[str, Any], list[CellError]]:
    """Cell text to JSON-like values; what cannot be read becomes a cell error."""
    values: dict[str, Any] = {}
    errors: list[CellError] = []
    for column, text in row.cells.items():
        try:
            if column in _BOOL_COLUMNS:
                values[column] = parse_bool(text)
            elif column == "mlps_level":
                values[column] = parse_level(text)
            else:
                values[column] = text or None
        except ValueError as exc:
            if column == "mlps_level":
                message = ("expected a whole number 1-5", "应为 1-5 的整数（半角数字）")
            else:
                message = (str(exc), "应为 是/否（true/false）")
            errors.append(CellError(row.number, column, *message))
    return values, errors


def _validated(row: Row) -> tuple[uuid.UUID | None, SystemCreate | None, list[CellError]]:
    values, errors = _typed_cells(row)
    system_id: uuid.UUID | None = None
    raw_id = values.pop("id", None)
    if raw_id:
        try:
            system_id = uuid.UUID(str(raw_id))
        except ValueError:
            errors.append(
                CellError(row.number, "id", "not a system id (UUID)", "不是有效的系统标识（UUID）")
            )
    bad_columns = {e.column for e in errors}
    try:
        body = SystemCreate.model_validate(
            {k: v for k, v in values.items() if k not in bad_columns}
        )
    except ValidationError as exc:
        for error in exc.errors():
            column = str(error["loc"][0]) if error["loc"] else ""
            if column not in bad_columns:
                errors.append(CellError(row.number, column, error["msg"], _chinese(error)))
        return system_id, None, errors
    return system_id, (None if errors else body), errors


def _chinese(error: Mapping[str, Any]) -> str:
    """pydantic's English message, said in Chinese for the office that fixes the file."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "必填项，不能为空"
    if kind == "string_too_short":
        return "不能为空"
    if kind == "string_too_long":
        return f"过长（最多 {ctx.get('max_length')} 个字符）"
    if kind in ("literal_error", "enum"):
        return f"取值无效，可选：{ctx.get('expected', '')}"
    if kind in ("uuid_parsing", "uuid_type", "uuid_version"):
        return "不是有效的单位标识（UUID）"
    if kind in ("greater_than_equal", "less_than_equal", "int_parsing", "int_type"):
        return "应为 1-5 的整数"
    if kind == "string_pattern_mismatch":
        return "包含不允许的字符（如控制字符）"
    return f"取值无效（{error['msg']}）"


def _row_patch(row: Row, body: SystemCreate) -> dict[str, Any]:
    """A row updates the columns the file has, and only those."""
    return body.model_dump(include=set(domain.SYSTEM_FIELDS) & set(row.cells))


def _lifecycle_violation(system: System, patch: Mapping[str, Any]) -> Violation | None:
    """What ``apply_change`` would refuse for this row, found before anything is written."""
    before = views.entry(system)
    after = {**before, **patch}
    if not domain.changes(before, after):
        return None
    current = cast(domain.Status, system.status)  # the column's CHECK constraint
    return domain.lifecycle_violation(current, after["status"])


# --- export ---------------------------------------------------------------------------


async def export_file(
    session: AsyncSession,
    principal: Principal,
    filters: SystemFilters,
    format: Literal["csv", "xlsx"],
) -> IO[bytes]:
    """The file, written chunk by chunk as rows stream from the database."""
    columns = [System.id, System.org_id, *(getattr(System, f) for f in domain.SYSTEM_FIELDS)]
    query = (
        repository.filtered_systems(principal, filters)
        .with_only_columns(*columns)
        .order_by(System.id)
        .execution_options(yield_per=EXPORT_CHUNK)
    )
    new: Callable[[Sequence[str]], SheetWriter]
    new = CsvWriter if format == "csv" else (lambda header: XlsxWriter(header, "systems"))
    with HEAVY.without_gc():
        writer: SheetWriter = await HEAVY.run(new, COLUMNS)
        async with snapshot(session):  # a server-side cursor lives in a transaction
            result = await session.stream(query)
            async for chunk in result.partitions(EXPORT_CHUNK):
                await HEAVY.run(writer.add, [tuple(row) for row in chunk])
        return await HEAVY.run(writer.finish)
