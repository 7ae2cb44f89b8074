"""JSON request bodies must not repeat a key within one object.

RFC 8259 §4 leaves duplicate names undefined ("SHOULD be unique") and RFC 7493
(I-JSON) §2.3 forbids them: parsers disagree on which one wins, so a gateway, a log
and this service could each read a different ``status`` from
``{"status": "planned", "status": "retired"}``. Python's ``json`` keeps the last one
silently; here such a body is refused with 422 ``json_duplicate_key`` naming the key.

An ASGI middleware, so every service's app gets it from ``create_app`` without its
routes knowing. It only looks at requests with a JSON body (``application/json`` or
``*+json``, or no content type, which FastAPI also reads as JSON) and sits inside
``BodyLimitMiddleware``, so the body it buffers is already bounded. Anything that is
not valid JSON is passed on untouched: FastAPI's own parse reports it as before.
The body is parsed once more by FastAPI; with the C scanner and a hook that only
compares ``len(dict(pairs))`` this costs microseconds for a catalogue entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import GovitError, clip
from shared.problems import problem_response

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return obj


def loads_strict(data: str | bytes) -> Any:
    """``json.loads`` that raises ``DuplicateKeyError`` on a repeated key."""
    return json.loads(data, object_pairs_hook=_unique_object)


def duplicate_key(key: str) -> GovitError:
    shown = clip(key)
    return GovitError(
        422,
        "json_duplicate_key",
        f"the key {shown!r} appears more than once in one JSON object "
        "(RFC 8259 §4, RFC 7493 §2.3): send each key once",
        extra={
            "key": shown,
            "errors": [
                {"loc": "body", "message": f"duplicate key {shown!r}", "type": "duplicate_key"}
            ],
        },
    )


def _is_json(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            media_type = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/json" or (
                media_type.startswith(b"application/") and media_type.endswith(b"+json")
            )
    return True  # no content type: FastAPI reads the body as JSON


class StrictJSONMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _BODY_METHODS
            or not _is_json(scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request":
                    break  # a disconnect: let the app see it
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except GovitError as error:  # the body limit, raised while counting
            await problem_response(Request(scope), error)(scope, receive, send)
            return
        body = b"".join(chunks)
        if body:
            try:
                loads_strict(body)
            except DuplicateKeyError as exc:
                await problem_response(Request(scope), duplicate_key(exc.key))(scope, receive, send)
                return
            except (ValueError, RecursionError):
                pass  # not JSON (or too deep): FastAPI's parse answers as it always has

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)
