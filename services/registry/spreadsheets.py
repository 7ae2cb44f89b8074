"""Catalogue files: CSV and XLSX (first sheet), in and out.

Government offices keep their catalogues in spreadsheets, so reading is lenient in
form (a BOM, UTF-16 or GB18030 text, 是/否 for booleans, blank trailing rows) and
strict in content: every cell is then validated like an API request. Export writes
the same columns the import reads, so an exported file imports back unchanged.

Reading goes through ``shared.spreadsheets``: the file's size is bounded before
anything is built from it (a catalogue has at most ``MAX_ROWS`` rows and
``len(COLUMNS)`` columns), and CSV text that a spreadsheet would evaluate is
escaped with a leading apostrophe on export and unescaped on import (the rule is in
``shared.spreadsheets.formulas``). Each error carries an English and a Chinese
message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from services.registry.domain import SYSTEM_FIELDS
from services.registry.errors import IMPORT_INVALID
from shared.errors import GovitError
from shared.spreadsheets import SheetLimits, UnreadableFile, read_csv, read_xlsx, restore
from shared.spreadsheets.limits import too_many_rows
from shared.spreadsheets.writers import XLSX_MEDIA_TYPE

COLUMNS = ("id", "org", *SYSTEM_FIELDS)
REQUIRED_COLUMNS = ("org", "name", "status", "network", "cloud")
MAX_ROWS = 100_000  # API.md: at most 100,000 rows per import
# A catalogue's columns plus slack for a few notes columns an office may keep.
LIMITS = SheetLimits(max_columns=len(COLUMNS) + 7, max_rows=MAX_ROWS, max_cell_chars=4096)
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
_TRUE = {"true", "1", "yes", "y", "是", "√"}
_FALSE = {"false", "0", "no", "n", "否", ""}
_ASCII_DIGITS = re.compile(r"[0-9]{1,9}")

__all__ = ["COLUMNS", "CSV_MEDIA_TYPE", "REQUIRED_COLUMNS", "XLSX_MEDIA_TYPE"]


@dataclass(frozen=True, slots=True)
class Row:
    number: int  # the sheet's row number; the header is row 1
    cells: dict[str, str]


@dataclass(frozen=True, slots=True)
class CellError:
    row: int
    column: str
    message: str
    message_zh: str


def is_xlsx(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04"


def read_catalogue(data: bytes) -> tuple[list[Row], str | None]:
    """(rows keyed by column name, the CSV encoding read or None for XLSX).

    A malformed file or header raises a 422 problem; a file past the limits a 413.
    """
    try:
        if is_xlsx(data):
            table, encoding = read_xlsx(data, LIMITS), None
        else:
            table, encoding = read_csv(data, LIMITS)
            table = [[restore(cell.strip()) for cell in row] for row in table]
    except UnreadableFile as exc:
        raise import_refused([CellError(1, "", exc.message, exc.message_zh)]) from exc
    if not table:
        raise import_refused(
            [CellError(1, "", "the file is empty: expected a header row", "文件为空：缺少表头行")]
        )
    header = [cell.strip().lower() for cell in table[0]]
    problems = [
        CellError(
            1,
            name,
            f"unknown column {name!r}; columns are {', '.join(COLUMNS)}",
            f"未知列 {name!r}；可用列：{', '.join(COLUMNS)}",
        )
        for name in header
        if name and name not in COLUMNS
    ]
    problems += [
        CellError(1, name, "column appears more than once", "列重复出现")
        for name in sorted({n for n in header if n and header.count(n) > 1})
    ]
    problems += [
        CellError(1, name, "required column is missing", "缺少必填列")
        for name in REQUIRED_COLUMNS
        if name not in header
    ]
    if problems:
        raise import_refused(problems)
    rows = []
    for number, values in enumerate(table[1:], start=2):
        if not any(value.strip() for value in values):
            continue  # blank lines at the end of a sheet
        cells = {
            name: values[i].strip() if i < len(values) else ""
            for i, name in enumerate(header)
            if name
        }
        rows.append(Row(number, cells))
    if len(rows) > MAX_ROWS:
        raise too_many_rows(LIMITS)
    return rows, encoding


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true or false (是/否)")


def parse_level(text: str) -> int | None:
    """ASCII digits only: ``int()`` would also read ``٣`` or ``３`` as 3 (issue 16)."""
    if not text:
        return None
    if not _ASCII_DIGITS.fullmatch(text):
        raise ValueError("expected a whole number 1-5")
    return int(text)


def import_refused(errors: Iterable[CellError], limit: int = 1000) -> GovitError:
    errors = list(errors)
    return IMPORT_INVALID.error(
        f"{len(errors)} problem(s) in the file; nothing was imported",
        extra={
            "message_zh": f"文件中有 {len(errors)} 处问题，未导入任何数据",
            "errors": [
                {"row": e.row, "column": e.column, "message": e.message, "message_zh": e.message_zh}
                for e in errors[:limit]
            ],
            "error_count": len(errors),
        },
    )
