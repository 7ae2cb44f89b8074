"""Assertions every service's tests share: problem+json answers, CloudEvents, polling."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import cache
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from shared.errors import PROBLEM_JSON
from shared.events.schemas import SCHEMA_DIR


def problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert an RFC 9457 problem+json answer with ``status`` (and ``code``); return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"] and body["type"].startswith("https://")
    if code is not None:
        assert body["code"] == code, body
    return body


@cache
def _schema_validator(event_type: str) -> Draft202012Validator:
    path = SCHEMA_DIR / f"{event_type}.json"
    assert path.is_file(), f"no JSON Schema for event type {event_type}"
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def assert_cloudevent(envelope: dict[str, Any], source: str) -> None:
    """A CloudEvents 1.0 structured-JSON envelope from ``source`` (``/govit/<service>``)
    whose type is ``govit.<service>.*``, whose data matches the type's JSON Schema and
    whose subject is the entity named first in the data (``id``, else ``project_id``,
    else the calendar's ``year``: docs/event-payloads.md)."""
    assert envelope["specversion"] == "1.0", envelope
    for attribute in ("id", "source", "type", "subject", "time"):
        assert isinstance(envelope.get(attribute), str) and envelope[attribute], attribute
    uuid.UUID(envelope["id"])
    assert envelope["source"] == source, envelope["source"]
    service = source.rsplit("/", 1)[-1]
    assert envelope["type"].startswith(f"govit.{service}."), envelope["type"]
    assert envelope.get("datacontenttype") == "application/json"
    at = datetime.fromisoformat(envelope["time"].replace("Z", "+00:00"))
    assert at.utcoffset() is not None, "time must carry its offset (RFC 3339)"
    data = envelope["data"]
    errors = [e.message for e in _schema_validator(envelope["type"]).iter_errors(data)]
    assert not errors, f"{envelope['type']}: {errors}"
    first = next(str(data[k]) for k in ("id", "project_id", "year") if data.get(k) is not None)
    assert envelope["subject"] == first, (envelope["type"], envelope["subject"], first)


async def wait_until(
    check: Callable[[], Awaitable[bool]], seconds: float = 20, what: str = "condition"
) -> None:
    """Poll ``check`` until it holds; fail after ``seconds`` (never a bare sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not met within {seconds} s")
