"""What the door adds to every answer, and the longest request target it takes.

Every answer gets ``X-Content-Type-Options: nosniff`` (a browser must not guess a
JSON error into HTML) and, unless the service chose otherwise, ``Cache-Control:
no-store`` (answers carry personal and budget data; no shared cache may keep
them). A request target (path and query) over ``MAX_TARGET_BYTES`` is refused
with ``414 uri_too_long`` before routing. RFC 9110 §4.1 asks servers to take at
least 8,000 octets; no route of the suite comes near that. Targets too long for
the app to ever see are refused the same way by ``gateway.server``, which also
refuses header fields over ``MAX_HEADER_BYTES`` in all with ``431
request_header_fields_too_large`` (RFC 6585 §5).

A plain ASGI middleware (not ``BaseHTTPMiddleware``): it only wraps ``send``.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import PROBLEM_JSON, GovitError

MAX_TARGET_BYTES = 8 * 1024
# A request's header section, as nginx's default buffers take it (4 x 8 KiB): a token
# and the usual headers are ~2 KiB; past this a client is wasting the door's memory.
MAX_HEADER_BYTES = 32 * 1024
ANSWER_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store"))


def uri_too_long() -> GovitError:
    return GovitError(
        414,
        "uri_too_long",
        f"the request target (path and query) is longer than {MAX_TARGET_BYTES} bytes",
        extra={"limit_bytes": MAX_TARGET_BYTES},
    )


def header_fields_too_large() -> GovitError:
    return GovitError(
        431,
        "request_header_fields_too_large",
        f"the request's header fields are longer than {MAX_HEADER_BYTES} bytes in all",
        extra={"limit_bytes": MAX_HEADER_BYTES},
    )


def with_answer_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` plus those of ``ANSWER_HEADERS`` it does not set itself."""
    present = {name.lower() for name, _ in headers}
    return headers + [(name, value) for name, value in ANSWER_HEADERS if name not in present]


class SafeAnswers:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_safely(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = with_answer_headers(list(message.get("headers", ())))
                message = {**message, "headers": headers}
            await send(message)

        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        if len(raw_path) + len(scope.get("query_string", b"")) > MAX_TARGET_BYTES:
            problem = uri_too_long().problem()  # no `instance`: it would echo the target
            response = JSONResponse(problem, status_code=414, media_type=PROBLEM_JSON)
            await response(scope, receive, send_safely)
            return
        await self.app(scope, receive, send_safely)
