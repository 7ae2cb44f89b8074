"""Request body limits (API.md: 1 MiB, imports 20 MiB), answered as problem+json 413.

A declared ``Content-Length`` over the limit is refused before the route runs; a
body without one (chunked) is counted as the route reads it, and reading past the
limit raises the same 413, so nothing is parsed or stored.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import PROBLEM_JSON, GovitError

MAX_BODY_BYTES = 1024 * 1024


def payload_too_large(limit: int) -> GovitError:
    return GovitError(
        413,
        "payload_too_large",
        f"the request body exceeds {limit} bytes",
        extra={"limit_bytes": limit},
    )


class BodyLimitMiddleware:
    """``larger`` maps ``"METHOD /path"`` to the limit of a route that takes more."""

    def __init__(self, app: ASGIApp, *, default: int, larger: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.larger = larger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(f"{scope['method']} {scope['path']}", self.default)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(scope, send, payload_too_large(limit))
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise payload_too_large(limit)
            return message

        await self.app(scope, counting_receive, send)


async def _refuse(scope: Scope, send: Send, error: GovitError) -> None:
    body = json.dumps(error.problem(instance=scope["path"])).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
