"""Spreadsheet files the tests build (none is stored): the kit's and the registry's."""

from __future__ import annotations

import io

from openpyxl import Workbook


def sheet_with_cell_at(ref: str) -> bytes:
    """A tiny workbook (under 5 KB) whose only cell, ``"x"``, is at ``ref``."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet[ref] = "x"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
