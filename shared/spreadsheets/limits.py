"""How large a sheet may be, and the problems answered past each bound.

A catalogue has a dozen columns and at most 100,000 rows (API.md), so anything a
spreadsheet can declare beyond that is refused before memory is spent on it: the
1.6 KB workbook whose only cell is ``XFD1048576`` used to make the grid reader ask
for 549 GB and abort the process.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import GovitError


@dataclass(frozen=True)
class SheetLimits:
    max_columns: int = 32  # a catalogue's columns plus slack for notes columns
    max_rows: int = 100_000  # data rows; the header row comes on top
    max_cell_chars: int = 32_767  # Excel's own limit for one cell
    # XLSX is a zip: bound what it inflates to, in total and per member.
    max_uncompressed_bytes: int = 256 * 1024 * 1024
    max_ratio: int = 200  # deflate of real sheet XML stays well under this
    ratio_floor_bytes: int = 8 * 1024 * 1024  # small members may compress better
    max_shared_strings: int = 2_000_000
    max_shared_string_chars: int = 64 * 1024 * 1024
    max_xml_part_bytes: int = 4 * 1024 * 1024  # workbook.xml and its relationships

    @property
    def max_sheet_rows(self) -> int:
        return self.max_rows + 1  # the header


class UnreadableFile(Exception):
    """The bytes are not a readable CSV or XLSX: the caller turns it into its own 422."""

    def __init__(self, message: str, message_zh: str) -> None:
        super().__init__(message)
        self.message = message
        self.message_zh = message_zh


def too_large(code: str, detail: str, detail_zh: str, **extra: object) -> GovitError:
    """413: the file is larger than any catalogue can be; nothing was read past it."""
    return GovitError(413, code, detail, extra={"message_zh": detail_zh, **extra})


def too_many_rows(limits: SheetLimits, row: int | None = None) -> GovitError:
    return too_large(
        "too_many_rows",
        f"the file has more than {limits.max_rows:,} data rows; split it into several files",
        f"文件超过 {limits.max_rows:,} 行数据，请拆分为多个文件",
        limit_rows=limits.max_rows,
        **({"row": row} if row is not None else {}),
    )


def too_many_columns(limits: SheetLimits, cell: str) -> GovitError:
    return too_large(
        "too_many_columns",
        f"the sheet reaches column {cell}, wider than {limits.max_columns} columns",
        f"工作表超过 {limits.max_columns} 列（单元格 {cell}）",
        limit_columns=limits.max_columns,
        cell=cell,
    )
