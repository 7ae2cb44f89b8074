"""leshan:31 names an acceptance filing's documents (API.md "Filing"): the OpenAPI
document enumerates them, an acceptance filing with another type is refused with
nothing stored, and other filing types still name their documents freely."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.filing.schemas import ACCEPTANCE_DOCUMENT_TYPES
from shared.policy.rules import AcceptanceDocument
from tests.filing.conftest import LESHAN_MATERIALS, acceptance_body, approved_project, cast, docs
from tests.filing.helpers import outbox
from tests.support.checks import problem
from tests.support.fixtures import TokenFactory


def test_the_openapi_document_enumerates_the_leshan_31_types(filing_app: FastAPI) -> None:
    schema = filing_app.openapi()["components"]["schemas"]["Document"]["properties"]["type"]
    enumerated = [form["enum"] for form in schema["anyOf"] if "enum" in form]
    assert enumerated == [list(LESHAN_MATERIALS)]
    assert set(ACCEPTANCE_DOCUMENT_TYPES) == set(AcceptanceDocument.__args__)


async def test_an_acceptance_filing_with_another_document_type_is_refused(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    c = cast(token, "jincheng")
    project = await approved_project(filing_app, c)
    body = acceptance_body(project, "2026-11-02", documents=docs("construction_summary", "photos"))
    r = await client.post("/api/v1/filings", json=body, headers=c.a)
    found = problem(r, 422, "validation_failed")
    assert "photos" in r.text and "leshan:31" in r.text, found
    listed = await client.get("/api/v1/filings", params={"project_id": project}, headers=c.a)
    assert listed.status_code == 200 and listed.json()["items"] == []
    assert await outbox(filing_app, "govit.filing.acceptance.filed") == []
    # the same filing with leshan:31 documents only is taken
    body["documents"] = docs("construction_summary")
    r = await client.post("/api/v1/filings", json=body, headers=c.a)
    assert r.status_code == 201, r.text
    assert [d["type"] for d in r.json()["documents"]] == ["construction_summary"]


async def test_other_filing_types_name_their_documents_freely(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    c = cast(token, "jincheng")
    project = await approved_project(filing_app, c)
    body = {
        "project_id": project,
        "type": "contract",
        "event_date": "2026-09-30",
        "filed_on": "2026-10-09",
        "documents": docs("contract", "photos"),
    }
    r = await client.post("/api/v1/filings", json=body, headers=c.a)
    assert r.status_code == 201, r.text
    assert [d["type"] for d in r.json()["documents"]] == ["contract", "photos"]
