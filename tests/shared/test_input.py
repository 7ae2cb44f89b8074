"""The shared kit's input rules for every service built by ``create_app``: JSON bodies
never repeat a key, and a 422 is bounded however bad the body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import MetaData

from shared.app import create_app
from shared.events import event_tables
from shared.json_body import DuplicateKeyError, loads_strict
from shared.problems import MAX_ERRORS
from shared.settings import GovitSettings
from shared.text import Name
from tests.support.fixtures import Stack, service_settings


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    tags: list[dict[str, Any]] = []


def toy_app(stack: Stack) -> FastAPI:
    router = APIRouter()

    @router.post("/items")
    async def add(item: Item) -> dict[str, Any]:
        return item.model_dump()

    @router.post("/raw")
    async def raw(body: dict[str, Any]) -> dict[str, Any]:
        return body

    settings = service_settings(GovitSettings, stack, "postgresql+asyncpg://u@127.0.0.1:9/none")
    tables = event_tables(MetaData())
    return create_app(settings=settings, title="toy", routers=[router], tables=tables)


@pytest.fixture
async def client(stack: Stack, dev_keys: object) -> AsyncIterator[httpx.AsyncClient]:
    # No lifespan: these routes touch neither the database nor NATS.
    transport = httpx.ASGITransport(app=toy_app(stack))
    async with httpx.AsyncClient(transport=transport, base_url="http://toy") as c:
        yield c


JSON = {"Content-Type": "application/json"}


def test_loads_strict_refuses_a_repeat_at_any_depth() -> None:
    assert loads_strict('{"a": {"b": 1}, "c": [{"b": 2}, {"b": 3}]}') == {
        "a": {"b": 1},
        "c": [{"b": 2}, {"b": 3}],
    }
    for doc in ('{"a": 1, "a": 1}', '{"x": {"b": 1, "b": 2}}', '[{"k": 1, "j": 2, "k": 3}]'):
        with pytest.raises(DuplicateKeyError):
            loads_strict(doc)


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ('{"name": "a", "name": "b"}', "name"),
        ('{"name": "a", "tags": [{"k": 1, "k": 2}]}', "k"),
        ('{"name": "a", "\\u006eame": "b"}', "name"),  # the same key, escaped
    ],
)
async def test_a_repeated_key_is_a_422_naming_it(
    client: httpx.AsyncClient, content: str, key: str
) -> None:
    response = await client.post("/items", content=content, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "json_duplicate_key" and body["key"] == key
    assert body["instance"] == "/items"


@pytest.mark.parametrize(
    "media_type", ["application/merge-patch+json", "application/json; charset=utf-8"]
)
async def test_every_json_media_type_is_checked(client: httpx.AsyncClient, media_type: str) -> None:
    content = '{"name": "a", "name": "b"}'
    response = await client.post("/items", content=content, headers={"Content-Type": media_type})
    assert response.status_code == 422 and response.json()["code"] == "json_duplicate_key"


async def test_a_long_repeated_key_is_clipped_in_the_answer(client: httpx.AsyncClient) -> None:
    key = "k" * 100_000
    content = f'{{"{key}": 1, "{key}": 2}}'
    response = await client.post("/raw", content=content, headers=JSON)
    assert response.status_code == 422
    assert len(response.content) < 2048
    assert response.json()["key"].endswith("…")


@pytest.mark.parametrize(
    "content", [b"{not json", b"[" * 100_000 + b"]" * 100_000, b'{"name": "\xff"}']
)
async def test_bodies_that_are_not_json_keep_their_answer_and_are_never_a_500(
    client: httpx.AsyncClient, content: bytes
) -> None:
    response = await client.post("/items", content=content, headers=JSON)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_chunked_body_over_the_limit_is_a_413_not_a_500(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    response = await client.post("/items", content=chunks(), headers=JSON)
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "payload_too_large"


async def test_an_ordinary_body_passes_untouched(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"name": "某局", "tags": [{"k": 1}, {"k": 2}]})
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "某局", "tags": [{"k": 1}, {"k": 2}]}


async def test_a_422_lists_the_first_errors_and_counts_them_all(client: httpx.AsyncClient) -> None:
    body = {"name": "某局", **{f"unknown{i}": i for i in range(5000)}}
    response = await client.post("/items", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert len(problem["errors"]) == len(problem["violations"]) == MAX_ERRORS
    assert problem["error_count"] == 5000 and problem["errors_truncated"] is True
    assert problem["errors"][0] == {
        "loc": "body.unknown0",
        "message": "Extra inputs are not permitted",
        "type": "extra_forbidden",
    }
    assert "(and 4995 more)" in problem["detail"]


async def test_echoed_locations_and_messages_are_clipped(client: httpx.AsyncClient) -> None:
    key = "翻" * 200_000
    response = await client.post("/items", json={"name": "某局", key: 1})
    assert response.status_code == 422
    assert len(response.content) < 4096, len(response.content)
    [error] = response.json()["errors"]
    assert error["loc"] == "body." + "翻" * 63 + "…"
