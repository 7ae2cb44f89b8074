"""Catalogue files: CSV (UTF-8, header row) and XLSX (first sheet), in and out.

Government offices keep their catalogues in spreadsheets, so reading is lenient in
form (a BOM, 是/否 for booleans, blank trailing rows) and strict in content: every
cell is then validated like an API request. Export writes the same columns the
import reads, so an exported file imports back unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from python_calamine import CalamineWorkbook

from services.registry.domain import SYSTEM_FIELDS
from shared.errors import GovitError

COLUMNS = ("id", "org", *SYSTEM_FIELDS)
REQUIRED_COLUMNS = ("org", "name", "status", "network", "cloud")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_TRUE = {"true", "1", "yes", "y", "是", "√"}
_FALSE = {"false", "0", "no", "n", "否", ""}


@dataclass(frozen=True)
class Row:
    number: int  # the sheet's row number; the header is row 1
    cells: dict[str, str]


@dataclass(frozen=True)
class CellError:
    row: int
    column: str
    message: str


def read_catalogue(data: bytes) -> list[Row]:
    """Rows keyed by column name; a malformed file or header raises a 422 problem."""
    table = _read_xlsx(data) if data[:4] == b"PK\x03\x04" else _read_csv(data)
    if not table:
        raise _file_error(1, "", "the file is empty: expected a header row")
    header = [cell.strip().lower() for cell in table[0]]
    problems = [
        CellError(1, name, f"unknown column {name!r}; columns are {', '.join(COLUMNS)}")
        for name in header
        if name and name not in COLUMNS
    ]
    problems += [
        CellError(1, name, "column appears more than once")
        for name in sorted({n for n in header if n and header.count(n) > 1})
    ]
    problems += [
        CellError(1, name, "required column is missing")
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
            name: values[i].strip() if i < len(values) else "" for i, name in enumerate(header)
        }
        cells.pop("", None)
        rows.append(Row(number, cells))
    return rows


def _read_csv(data: bytes) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _file_error(1, "", "the CSV file must be UTF-8 (save it as CSV UTF-8)") from exc
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise _file_error(1, "", f"the CSV file cannot be read: {exc}") from exc


def _read_xlsx(data: bytes) -> list[list[str]]:
    try:
        sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
        return [
            [_cell_text(cell) for cell in row] for row in sheet.to_python(skip_empty_area=False)
        ]
    except Exception as exc:  # calamine raises its own error types for broken files
        raise _file_error(1, "", f"the XLSX file cannot be read: {exc}") from exc


def _cell_text(cell: Any) -> str:
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # Excel stores 3 as 3.0
    return "" if cell is None else str(cell)


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true or false (是/否)")


def import_refused(errors: Iterable[CellError], limit: int = 1000) -> GovitError:
    errors = list(errors)
    return GovitError(
        422,
        "import_invalid",
        f"{len(errors)} problem(s) in the file; nothing was imported",
        extra={
            "errors": [{"row": e.row, "column": e.column, "message": e.message} for e in errors][
                :limit
            ],
            "error_count": len(errors),
        },
    )


def _file_error(row: int, column: str, message: str) -> GovitError:
    return import_refused([CellError(row, column, message)])


# --- export -------------------------------------------------------------------------


def _export_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    out = io.StringIO()
    out.write("\ufeff")  # Excel opens UTF-8 CSV correctly only with a BOM
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_export_cell(row.get(column)) for column in COLUMNS])
    return out.getvalue().encode("utf-8")


def write_xlsx(rows: Iterable[Mapping[str, Any]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("systems")
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([_export_cell(row.get(column)) for column in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
