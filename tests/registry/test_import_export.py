"""Bulk catalogue files: CSV and XLSX in (all rows or none) and out (imports back unchanged)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import Workbook, load_workbook

from services.registry.spreadsheets import COLUMNS, REQUIRED_COLUMNS, XLSX_MEDIA_TYPE
from tests.registry.conftest import (
    Actors,
    create_system,
    outbox_events,
)
from tests.support.checks import problem
from tests.support.fixtures import TokenFactory, auth

IMPORT = "/api/v1/systems:import"
EXPORT = "/api/v1/systems:export"
HEADER = [c for c in COLUMNS if c != "id"]
REGISTERED = "govit.registry.system.registered"


def row(org: uuid.UUID, **overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "org": str(org),
        "name": "水资源监测预警系统",
        "status": "operating",
        "network": "extranet",
        "cloud": "on_cloud",
        "cloud_exempt_reason": "",
        "private_network_approval": "",
        "sharing_connected": "true",
        "mlps_level": "2",
        "crypto_assessed": "true",
        "asset_registered": "false",
    }
    values.update(overrides)
    return values


def csv_file(
    rows: Sequence[dict[str, object]],
    header: Sequence[str] = HEADER,
    *,
    bom: bool = False,
    encoding: str = "utf-8",
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for values in rows:
        writer.writerow(["" if values.get(c) is None else values.get(c) for c in header])
    return (("\ufeff" if bom else "") + out.getvalue()).encode(encoding)


def xlsx_file(rows: Sequence[dict[str, object]], header: Sequence[str] = HEADER) -> bytes:
    """A workbook as an office would type it: numbers and booleans as native cells."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "系统目录"
    sheet.append(list(header))
    for values in rows:
        cells: list[object] = []
        for column in header:
            value = values.get(column)
            if value in ("true", "false"):
                value = value == "true"
            elif column == "mlps_level" and isinstance(value, str) and value.isdigit():
                value = int(value)
            cells.append(None if value == "" else value)
        sheet.append(cells)
    book.create_sheet("说明").append(["this sheet is ignored"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    data: bytes,
    *,
    kind: str = "csv",
    multipart: bool = False,
) -> httpx.Response:
    media_type = "text/csv" if kind == "csv" else XLSX_MEDIA_TYPE
    if multipart:
        files = {"file": (f"catalogue.{kind}", data, media_type)}
        return await client.post(IMPORT, files=files, headers=headers)
    return await client.post(IMPORT, content=data, headers={**headers, "Content-Type": media_type})


async def listed(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/systems", params={"limit": 500}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def errors_of(response: httpx.Response) -> list[tuple[int, str]]:
    body = problem(response, 422, "import_invalid")
    assert body["error_count"] == len(body["errors"])
    for error in body["errors"]:
        assert set(error) == {"row", "column", "message", "message_zh"}
        assert error["message"] and error["message_zh"], "every error in English and Chinese"
    return [(e["row"], e["column"]) for e in body["errors"]]


# --- importing ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
@pytest.mark.parametrize("multipart", [False, True], ids=["raw", "multipart"])
async def test_a_catalogue_file_imports_every_row(
    client: httpx.AsyncClient,
    actors: Actors,
    registry_app: FastAPI,
    kind: str,
    multipart: bool,
) -> None:
    rows = [
        row(actors.unit_a),
        row(
            actors.unit_a,
            name="防汛抗旱指挥系统",
            status="building",
            cloud="exempt",
            cloud_exempt_reason="涉密信息系统",
            network="private",
            private_network_approval="临水信函〔2023〕5号",
            mlps_level="",
            sharing_connected="false",
        ),
        row(actors.unit_a, name="办公自动化系统", status="planned", cloud="not_migrated"),
    ]
    data = csv_file(rows) if kind == "csv" else xlsx_file(rows)
    response = await upload(client, actors.a, data, kind=kind, multipart=multipart)
    assert response.status_code == 201, response.text
    encoding = None if kind == "xlsx" else "utf-8"
    counts = {"imported": 3, "created": 3, "updated": 0, "unchanged": 0, "encoding": encoding}
    assert response.json() == counts

    systems = sorted(await listed(client, actors.a), key=lambda s: s["name"])
    assert [s["name"] for s in systems] == [
        "办公自动化系统",
        "水资源监测预警系统",
        "防汛抗旱指挥系统",
    ]
    flood = systems[2]
    assert flood["cloud_exempt_reason"] == "涉密信息系统"
    assert flood["private_network_approval"] == "临水信函〔2023〕5号"
    assert flood["mlps_level"] is None
    assert flood["sharing_connected"] is False
    monitor = systems[1]
    assert monitor["mlps_level"] == 2
    assert (monitor["sharing_connected"], monitor["asset_registered"]) == (True, False)
    assert monitor["cloud_exempt_reason"] is None and monitor["version"] == 1
    registered = await outbox_events(registry_app, REGISTERED)
    assert sorted(e["subject"] for e in registered) == sorted(s["id"] for s in systems)


async def test_a_csv_with_a_byte_order_mark_reads_its_first_column(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    # "org" is the first column: a BOM left in place would make it "\ufefforg".
    data = csv_file([row(actors.unit_a)], bom=True)
    assert data.startswith(b"\xef\xbb\xbforg,")
    response = await upload(client, actors.a, data, multipart=True)
    assert response.status_code == 201, response.text
    assert [s["org"] for s in await listed(client, actors.a)] == [str(actors.unit_a)]


async def test_header_names_are_trimmed_and_case_insensitive(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    header = [" ORG", "Name ", "STATUS", "Network", "cloud"]
    data = csv_file([row(actors.unit_a)], header=[h.strip().lower() for h in header])
    data = data.replace(b"org,name,status,network,cloud", ",".join(header).encode(), 1)
    response = await upload(client, actors.a, data)
    assert response.status_code == 201, response.text
    [system] = await listed(client, actors.a)
    # Columns left out take the API's defaults.
    assert (system["sharing_connected"], system["mlps_level"]) == (False, None)


@pytest.mark.parametrize(
    ("cell", "value"),
    [("是", True), ("否", False), ("√", True), ("YES", True), ("n", False), ("0", False)],
)
async def test_booleans_may_be_written_as_yes_or_no_in_chinese(
    client: httpx.AsyncClient, actors: Actors, cell: str, value: bool
) -> None:
    data = csv_file([row(actors.unit_a, sharing_connected=cell, crypto_assessed=cell)])
    assert (await upload(client, actors.a, data)).status_code == 201
    [system] = await listed(client, actors.a)
    assert system["sharing_connected"] is value and system["crypto_assessed"] is value


async def test_one_bad_row_refuses_the_whole_file_and_stores_nothing(
    client: httpx.AsyncClient, actors: Actors, registry_app: FastAPI
) -> None:
    rows = [
        row(actors.unit_a, name="一"),  # row 2
        row(actors.unit_a, name="二"),  # row 3
        row(actors.unit_a, name="三", status="live"),  # row 4
        row(actors.unit_a, name="四"),  # row 5
        row(actors.unit_a, name="五", mlps_level="9", sharing_connected="可能"),  # row 6
        row(actors.unit_a, name="", cloud="aws"),  # row 7
        row(actors.unit_a, name="七", mlps_level="二级"),  # row 8
        row(actors.unit_a, name="八\x00"),  # row 9
    ]
    response = await upload(client, actors.a, csv_file(rows))
    assert errors_of(response) == [
        (4, "status"),
        (6, "mlps_level"),
        (6, "sharing_connected"),
        (7, "cloud"),
        (7, "name"),
        (8, "mlps_level"),
        (9, "name"),
    ]
    assert response.json()["detail"].endswith("nothing was imported")
    assert await listed(client, actors.a) == []
    assert await outbox_events(registry_app, REGISTERED) == []


async def test_an_xlsx_error_names_the_sheets_own_row_number(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    rows = [row(actors.unit_a, name=f"系统{i}") for i in range(5)]
    rows[3]["network"] = "wifi"  # sheet row 5
    response = await upload(client, actors.a, xlsx_file(rows), kind="xlsx", multipart=True)
    assert errors_of(response) == [(5, "network")]
    assert await listed(client, actors.a) == []


async def test_blank_lines_are_skipped_but_keep_the_row_numbers(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    good = csv_file([row(actors.unit_a)])
    bad = csv_file([row(actors.unit_a, status="live")]).split(b"\r\n", 1)[1]
    data = good + b"\r\n,,,\r\n" + bad + b"\r\n\r\n"  # rows 3 and 4 are blank
    assert errors_of(await upload(client, actors.a, data)) == [(5, "status")]


@pytest.mark.parametrize(
    ("overrides", "column", "rule"),
    [
        ({"network": "private"}, "private_network_approval", "linfen-water:11"),
        ({"cloud": "exempt"}, "cloud_exempt_reason", "linfen-water:29"),
    ],
)
async def test_a_row_that_breaks_the_profile_cites_the_rule(
    client: httpx.AsyncClient,
    actors: Actors,
    overrides: dict[str, str],
    column: str,
    rule: str,
) -> None:
    rows = [row(actors.unit_a), row(actors.unit_a, **overrides)]
    response = await upload(client, actors.a, csv_file(rows))
    assert errors_of(response) == [(3, column)]
    assert response.json()["errors"][0]["message"].startswith(f"{rule}: ")
    assert await listed(client, actors.a) == []


async def test_a_unit_cannot_import_another_units_systems(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    rows = [row(actors.unit_a), row(actors.unit_b), row(uuid.uuid4())]
    assert errors_of(await upload(client, actors.a, csv_file(rows))) == [(3, "org"), (4, "org")]
    assert await listed(client, actors.authority) == []


async def test_an_admin_imports_for_any_unit_but_not_for_an_unknown_one(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    ghost = row(uuid.uuid4())
    assert errors_of(await upload(client, actors.admin, csv_file([ghost]))) == [(2, "org")]
    rows = [row(actors.unit_a), row(actors.unit_b)]
    response = await upload(client, actors.admin, csv_file(rows))
    assert response.json()["created"] == 2
    assert len(await listed(client, actors.b)) == 1


@pytest.mark.parametrize("role", ["authority", "auditor", "platform", "finance"])
async def test_only_units_and_admins_import(
    client: httpx.AsyncClient, actors: Actors, token: TokenFactory, role: str
) -> None:
    headers = auth(token(roles=[role], org=actors.unit_a, jurisdiction="linfen-water"))
    response = await upload(client, headers, csv_file([row(actors.unit_a)]))
    problem(response, 403, "role_required")


async def test_an_unknown_header_column_is_refused(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    header = [*HEADER, "负责人"]
    response = await upload(client, actors.a, csv_file([row(actors.unit_a)], header=header))
    assert errors_of(response) == [(1, "负责人")]


async def test_a_duplicated_header_column_is_refused(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    # Two "status" columns: silently keeping one of them would import the wrong value.
    header = [*HEADER, "status"]
    rows = [{**row(actors.unit_a, status="planned")}]
    data = csv_file(rows, header=header).replace(b",planned\r\n", b",retired\r\n")
    assert errors_of(await upload(client, actors.a, data)) == [(1, "status")]
    assert await listed(client, actors.a) == []


@pytest.mark.parametrize("missing", REQUIRED_COLUMNS)
async def test_a_missing_required_column_is_refused(
    client: httpx.AsyncClient, actors: Actors, missing: str
) -> None:
    header = [c for c in HEADER if c != missing]
    response = await upload(client, actors.a, csv_file([row(actors.unit_a)], header=header))
    assert errors_of(response) == [(1, missing)]


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        b"PK\x03\x04" + bytes(200),
        b"PK\x03\x04" + b"not really a zip" * 50,
        b"\x00\x01\x02\x03",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        b'"unterminated,quote\n',
        b'{"name": "json"}',
    ],
    ids=["png", "zip-zeros", "zip-junk", "nul", "pdf", "quote", "json"],
)
@pytest.mark.parametrize("kind", ["csv", "xlsx"])
async def test_garbage_bytes_are_refused_not_a_server_error(
    client: httpx.AsyncClient, actors: Actors, data: bytes, kind: str
) -> None:
    response = await upload(client, actors.a, data, kind=kind)
    problem(response, 422, "import_invalid")
    assert await listed(client, actors.a) == []


@pytest.mark.parametrize("multipart", [False, True], ids=["raw", "multipart"])
async def test_an_empty_file_is_refused(
    client: httpx.AsyncClient, actors: Actors, multipart: bool
) -> None:
    response = await upload(client, actors.a, b"", multipart=multipart)
    assert errors_of(response) == [(1, "")]


async def test_a_multipart_upload_without_the_file_field_is_refused(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    files = {"upload": ("catalogue.csv", csv_file([row(actors.unit_a)]), "text/csv")}
    problem(await client.post(IMPORT, files=files, headers=actors.a), 422, "file_missing")
    # ``file`` sent as a plain text field of the form, not as a file.
    form = await client.post(
        IMPORT, data={"file": "org,name"}, files={"note": ("a.txt", b"x")}, headers=actors.a
    )
    problem(form, 422, "file_missing")


async def test_a_header_only_file_imports_nothing(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    response = await upload(client, actors.a, csv_file([]))
    assert response.status_code == 201, response.text
    assert response.json() == {
        "imported": 0,
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "encoding": "utf-8",
    }


async def test_errors_are_capped_but_counted(client: httpx.AsyncClient, actors: Actors) -> None:
    rows = [row(actors.unit_a, status="live") for _ in range(1200)]
    body = problem(await upload(client, actors.a, csv_file(rows)), 422, "import_invalid")
    assert body["error_count"] == 1200
    assert len(body["errors"]) == 1000
    assert body["errors"][0]["row"] == 2


MIB = 1024 * 1024


@pytest.mark.parametrize("mode", ["raw", "multipart", "streamed"])
async def test_an_import_over_20_mib_is_refused(
    client: httpx.AsyncClient, actors: Actors, mode: str
) -> None:
    big = csv_file([row(actors.unit_a)]) + b"#" * (20 * MIB)
    if mode == "streamed":  # no Content-Length: the service counts as it reads

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(big), MIB):
                yield big[start : start + MIB]

        response = await client.post(
            IMPORT, content=chunks(), headers={**actors.a, "Content-Type": "text/csv"}
        )
    else:
        response = await upload(client, actors.a, big, multipart=mode == "multipart")
    problem(response, 413, "payload_too_large")
    assert await listed(client, actors.a) == []


# --- exporting and importing back ----------------------------------------------------------


async def varied_catalogue(client: httpx.AsyncClient, actors: Actors) -> list[dict[str, Any]]:
    return [
        await create_system(client, actors.a, actors.unit_a),
        await create_system(
            client,
            actors.a,
            actors.unit_a,
            name='带,逗号和"引号"的系统',
            status="building",
            network="private",
            private_network_approval="临水信函〔2023〕5号",
            cloud="exempt",
            cloud_exempt_reason="涉密信息系统",
            mlps_level=None,
            sharing_connected=False,
            crypto_assessed=False,
        ),
        await create_system(
            client, actors.a, actors.unit_a, name="123", status="planned", cloud="migrating"
        ),
    ]


def read_export(kind: str, content: bytes) -> list[list[str]]:
    if kind == "csv":
        assert content.startswith(b"\xef\xbb\xbf"), "a BOM so that Excel reads UTF-8"
        return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    return [["" if c is None else str(c) for c in r] for r in sheet.iter_rows(values_only=True)]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
async def test_an_export_imports_back_unchanged(
    client: httpx.AsyncClient, actors: Actors, registry_app: FastAPI, kind: str
) -> None:
    made = await varied_catalogue(client, actors)
    exported = await client.get(EXPORT, params={"format": kind}, headers=actors.a)
    assert exported.status_code == 200, exported.text
    expected_type = "text/csv" if kind == "csv" else XLSX_MEDIA_TYPE
    assert exported.headers["content-type"].startswith(expected_type)
    assert f'filename="systems.{kind}"' in exported.headers["content-disposition"]

    table = read_export(kind, exported.content)
    assert table[0] == list(COLUMNS), "the export's columns are the ones the import reads"
    assert set(REQUIRED_COLUMNS) <= set(table[0])
    assert [r[0] for r in table[1:]] == [s["id"] for s in made]

    response = await upload(client, actors.a, exported.content, kind=kind, multipart=True)
    assert response.status_code == 201, response.text
    encoding = None if kind == "xlsx" else "utf-8"
    counts = {"imported": 3, "created": 0, "updated": 0, "unchanged": 3, "encoding": encoding}
    assert response.json() == counts
    for system in made:
        after = await client.get(f"/api/v1/systems/{system['id']}", headers=actors.a)
        assert after.json() == system
    assert await outbox_events(registry_app, "govit.registry.system.updated") == []


async def test_an_edited_export_updates_only_the_edited_rows(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    made = await varied_catalogue(client, actors)
    table = read_export("csv", (await client.get(EXPORT, headers=actors.a)).content)
    header = table[0]
    table[3][header.index("cloud")] = "on_cloud"
    table[3][header.index("status")] = "building"
    out = io.StringIO()
    csv.writer(out).writerows(table)
    response = await upload(client, actors.a, out.getvalue().encode())
    assert response.json() == {
        "imported": 3,
        "created": 0,
        "updated": 1,
        "unchanged": 2,
        "encoding": "utf-8",
    }
    edited = (await client.get(f"/api/v1/systems/{made[2]['id']}", headers=actors.a)).json()
    assert (edited["cloud"], edited["status"], edited["version"]) == ("on_cloud", "building", 2)
    history = await client.get(f"/api/v1/systems/{made[2]['id']}/history", headers=actors.a)
    assert history.json()["items"][-1]["changes"] == {
        "status": {"before": "planned", "after": "building"},
        "cloud": {"before": "migrating", "after": "on_cloud"},
    }


async def test_an_import_refuses_ids_it_cannot_update(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    mine = await create_system(client, actors.a, actors.unit_a)
    theirs = await create_system(client, actors.b, actors.unit_b)
    header = list(COLUMNS)
    rows = [
        {**row(actors.unit_a), "id": str(uuid.uuid4())},  # 2: unknown
        {**row(actors.unit_a), "id": theirs["id"]},  # 3: another unit's
        {**row(actors.unit_a), "id": mine["id"]},  # 4: fine
        {**row(actors.unit_a), "id": mine["id"]},  # 5: twice
        {**row(actors.unit_a), "id": "not-a-uuid"},  # 6
    ]
    response = await upload(client, actors.a, csv_file(rows, header=header))
    assert errors_of(response) == [(2, "id"), (3, "id"), (5, "id"), (6, "id")]


@pytest.mark.parametrize(
    ("start", "to", "column"),
    [("operating", "planned", "status"), ("retired", "operating", "status")],
)
async def test_an_import_cannot_move_the_lifecycle_backwards(
    client: httpx.AsyncClient, actors: Actors, start: str, to: str, column: str
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, status=start)
    rows = [{**row(actors.unit_a, status=to), "id": system["id"]}]
    response = await upload(client, actors.a, csv_file(rows, header=list(COLUMNS)))
    assert errors_of(response) == [(2, column)]
    after = (await client.get(f"/api/v1/systems/{system['id']}", headers=actors.a)).json()
    assert after["status"] == start and after["version"] == 1


async def test_a_change_to_a_retired_system_is_a_row_error_and_nothing_is_stored(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    retired = await create_system(client, actors.a, actors.unit_a, status="retired")
    rows = [
        row(actors.unit_a, name="新建系统"),  # 2: a new system, fine on its own
        {**row(actors.unit_a, status="retired", name="改名"), "id": retired["id"]},  # 3
    ]
    response = await upload(client, actors.a, csv_file(rows, header=list(COLUMNS)))
    assert errors_of(response) == [(3, "status")]
    assert [s["id"] for s in await listed(client, actors.a)] == [retired["id"]]


async def test_an_export_holds_what_the_caller_may_read_and_filters(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    made = await varied_catalogue(client, actors)
    theirs = await create_system(client, actors.b, actors.unit_b)

    def ids(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [r[0] for r in read_export("csv", response.content)[1:]]

    assert ids(await client.get(EXPORT, headers=actors.b)) == [theirs["id"]]
    everything = ids(await client.get(EXPORT, headers=actors.authority))
    assert sorted(everything) == sorted([*(s["id"] for s in made), theirs["id"]])
    assert ids(await client.get(EXPORT, headers=actors.other_authority)) == []
    building = await client.get(EXPORT, params={"status": "building"}, headers=actors.authority)
    assert ids(building) == [made[1]["id"]]
    problem(await client.get(EXPORT, params={"format": "pdf"}, headers=actors.a), 422)
