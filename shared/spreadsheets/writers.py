"""CSV and XLSX writers that fill a spooled file chunk by chunk, then stream it out.

An export of 100,000 rows is written as its rows arrive from the database (a few
thousand at a time, each chunk in the heavy-work pool), into a temporary file that
spills to disk past a few MiB, and the response streams that file: memory stays
flat whatever the size. Every text goes through the formula rule (``formulas``):
CSV cells are neutralised, XLSX cells are typed strings (openpyxl would otherwise
store a text starting with ``=`` as a live formula).
"""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any, Protocol

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES

from shared.spreadsheets.formulas import neutralise

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
_SPOOL_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024


class SheetWriter(Protocol):
    def add(self, rows: Iterable[Sequence[Any]]) -> None: ...
    def finish(self) -> IO[bytes]: ...


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CsvWriter:
    """UTF-8 with a BOM (Excel opens UTF-8 CSV correctly only with one), CRLF lines."""

    def __init__(self, header: Sequence[str]) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)
        self.file.write(codecs.BOM_UTF8)
        self.add([header])

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerows([neutralise(cell_text(v)) for v in row] for row in rows)
        self.file.write(out.getvalue().encode("utf-8"))

    def finish(self) -> IO[bytes]:
        self.file.seek(0)
        return self.file


class XlsxWriter:
    """openpyxl's write-only workbook: rows go to its temporary sheet file as added."""

    def __init__(self, header: Sequence[str], title: str = "sheet") -> None:
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet(title)
        self.add([header])

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self.sheet.append([self._cell(cell_text(v)) for v in row])

    def _cell(self, text: str) -> Any:
        if not text:
            return None
        if not text.startswith("=") and text not in ERROR_CODES:
            return text  # openpyxl stores any other str as a string cell
        # openpyxl would store "=..." as a live formula and "#N/A" as an error value:
        # force a string cell (an explicit cell is slower, so only for these).
        cell = WriteOnlyCell(self.sheet, value=text)
        cell.data_type = "s"
        return cell

    def finish(self) -> IO[bytes]:
        file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)
        self.book.save(file)
        file.seek(0)
        return file


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """The whole file at once (tests, small files)."""
    writer = CsvWriter(header)
    writer.add(rows)
    return writer.finish().read()


def write_xlsx(header: Sequence[str], rows: Iterable[Sequence[Any]], title: str = "sheet") -> bytes:
    writer = XlsxWriter(header, title)
    writer.add(rows)
    return writer.finish().read()


def stream_file(file: IO[bytes]) -> Iterator[bytes]:
    """The file in chunks, closed at the end (Starlette iterates it in a thread)."""
    try:
        while chunk := file.read(_CHUNK):
            yield chunk
    finally:
        file.close()
