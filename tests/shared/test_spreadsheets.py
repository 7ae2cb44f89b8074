"""The spreadsheet kit on its own: the escaping rule, encodings, limits, the pool."""

from __future__ import annotations

import asyncio
import gc
import io
import zipfile

import pytest

from shared.errors import GovitError
from shared.spreadsheets import (
    HeavyWork,
    SheetLimits,
    UnreadableFile,
    decode_csv,
    neutralise,
    read_csv,
    read_xlsx,
    restore,
    write_csv,
    write_xlsx,
)
from tests.support.sheets import sheet_with_cell_at


@pytest.mark.parametrize(
    "text",
    ["=1+1", "+1", "-1", "@A1", "\tx", "\rx", "＝1", "＋1", "－1", "＠1", "'x", "''x", "plain", ""],
)
def test_every_text_survives_neutralise_then_restore(text: str) -> None:
    assert restore(neutralise(text)) == text


def test_only_formula_starts_and_apostrophes_are_escaped() -> None:
    assert neutralise("=SUM(A1)") == "'=SUM(A1)"
    assert neutralise("'quoted") == "''quoted"
    assert neutralise("系统 = 1") == "系统 = 1"


def test_a_csv_round_trips_formula_like_cells() -> None:
    cells = ['=HYPERLINK("http://evil.example")', "＠x", "'q", "a,b"]
    rows, encoding = read_csv(write_csv(["name"] * len(cells), [cells]))
    assert encoding == "utf-8"  # the BOM decides
    assert [restore(c) for c in rows[1]] == cells
    assert all(not c.startswith(("=", "＠")) for c in rows[1])


def test_an_xlsx_round_trips_formula_like_cells_as_string_cells() -> None:
    cells = ["=1+1", "#N/A", "-2", "text"]
    data = write_xlsx(["a", "b", "c", "d"], [cells])
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet and b't="e"' not in sheet
    assert read_xlsx(data)[1] == cells


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("名称".encode("gb18030"), "gb18030"),
        ("\ufeff名称".encode("utf-16-le"), "utf-16-le"),
        ("\ufeff名称".encode("utf-16-be"), "utf-16-be"),
        ("名称".encode(), "utf-8"),
    ],
)
def test_encodings_are_detected(data: bytes, encoding: str) -> None:
    assert decode_csv(data) == ("名称", encoding)


def test_bytes_of_no_known_text_are_refused_in_two_languages() -> None:
    with pytest.raises(UnreadableFile) as refused:
        decode_csv(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert "UTF-8" in refused.value.message and "编码" in refused.value.message_zh


def test_csv_rows_are_capped_but_blank_lines_do_not_count() -> None:
    limits = SheetLimits(max_rows=3)
    assert len(read_csv(b"h\r\n1\r\n2\r\n3\r\n\r\n\r\n", limits)[0]) == 6
    with pytest.raises(GovitError) as refused:
        read_csv(b"h\r\n1\r\n2\r\n3\r\n4\r\n", limits)
    assert (refused.value.status, refused.value.code) == (413, "too_many_rows")


@pytest.mark.parametrize(
    ("ref", "code"), [("E1", "too_many_columns"), ("A6", "too_many_rows"), ("D5", None)]
)
def test_a_cell_reference_past_the_limits_is_refused(ref: str, code: str | None) -> None:
    data = sheet_with_cell_at(ref)
    limits = SheetLimits(max_columns=4, max_rows=4)
    if code is None:
        assert read_xlsx(data, limits)[-1][-1] == "x"
        return
    with pytest.raises(GovitError) as refused:
        read_xlsx(data, limits)
    assert (refused.value.status, refused.value.code) == (413, code)


async def test_a_caller_holds_per_caller_slots_at_most() -> None:
    heavy = HeavyWork(workers=1, backlog=1, per_caller=1)
    async with heavy.slot("a"):
        async with heavy.slot("b"):
            assert await heavy.run(sum, [1, 2]) == 3
        with pytest.raises(GovitError) as busy:
            async with heavy.slot("a"):
                pass
        assert busy.value.status == 429 and busy.value.headers["Retry-After"]
    async with heavy.slot("a"):
        pass


def test_heavy_work_pauses_the_cyclic_collector_until_the_last_one_ends() -> None:
    assert gc.isenabled()
    with HeavyWork.without_gc():
        assert not gc.isenabled()
        with HeavyWork.without_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer work still runs
    assert gc.isenabled()


async def test_the_process_wide_bound_answers_503() -> None:
    heavy = HeavyWork(workers=1, backlog=0, per_caller=1)
    async with heavy.slot("a"):
        with pytest.raises(GovitError) as busy:
            async with heavy.slot("b"):
                pass
        assert (busy.value.status, busy.value.code) == (503, "heavy_work_busy")
    await asyncio.sleep(0)
