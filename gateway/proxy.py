"""Forwarding: one catch-all route under ``/api/v1/`` that hands each request to
the service owning its prefix, bodies streamed both ways.

Order of the door checks: owning route (404 ``route_not_found``), the address's
budget of failed authentications (429) and the token (401), rate limit (429),
declared body size (413); then the request is sent with the
caller's token, ``X-Request-ID`` and ``X-Forwarded-*``. A body without a declared
length (chunked) is counted while it streams and refused with 413 the moment it
passes the limit. Small answers of known length are read whole (one write to the
caller); the rest stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from asgi_correlation_id import correlation_id
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from gateway.auth import VerifiedTokens, authenticate, client_ip
from gateway.clients import (
    RawHeaders,
    UpstreamClient,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.metrics import RouteMetrics
from gateway.ratelimit import RateLimiter
from gateway.routes import Route, RouteTable
from shared.body_limit import payload_too_large
from shared.errors import GovitError, clip

log = logging.getLogger(__name__)

# RFC 9110 §7.6.1 hop-by-hop fields, plus what the gateway sets itself.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_NOT_FORWARDED = _HOP_BY_HOP | {"host", "expect", "x-request-id", "x-forwarded-for"}
# The gateway's server adds its own Date and Server; the correlation middleware its id.
_NOT_RETURNED = _HOP_BY_HOP | {"x-request-id", "date", "server"}
_BODILESS = frozenset({204, 304})
READ_WHOLE_BELOW = 64 * 1024


@dataclass
class Gateway:
    """What the catch-all route needs; ``client`` is set by the lifespan."""

    table: RouteTable
    tokens: VerifiedTokens
    limiter: RateLimiter | None
    metrics: RouteMetrics
    client: UpstreamClient | None = field(default=None)

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        # The decoded path as the service will route on it: ``request.url.path`` goes
        # through urlsplit, which drops tabs and newlines (a %0A would vanish).
        method, path = request.method, request.scope["path"]
        route = self.table.resolve(path)
        if route is None:
            raise GovitError(404, "route_not_found", f"no service owns the path {clip(path)!r}")
        status = 500
        try:
            response = await self._forward(request, route, method, path)
            status = response.status_code
            return response
        except GovitError as error:
            status = error.status
            raise
        finally:
            self.metrics.observe(
                route.service, route.prefix, method, status, time.perf_counter() - started
            )

    async def _forward(self, request: Request, route: Route, method: str, path: str) -> Response:
        anonymous = self.table.is_anonymous(method, path)
        principal = await authenticate(
            request, self.tokens, anonymous=anonymous, failures=self.limiter
        )
        if self.limiter is not None:
            if principal is not None:
                await self.limiter.check_client(principal.sub)
            else:
                await self.limiter.check_anonymous(client_ip(request))

        body = _LimitedBody.of(request, self.table.body_limit(method, path))
        url = route.base_url + _target(request)
        timeout = self.table.timeout(method, path)
        assert self.client is not None, "the gateway's lifespan has not run"
        try:
            upstream = await self.client.send(
                method, url, _upstream_headers(request), body.chunks() if body else None, timeout
            )
            return await _answer(upstream, method)
        except Exception as exc:
            # The body's own refusal reaches here wrapped by the client, or not at all.
            if body is not None and body.too_large:
                raise payload_too_large(body.limit) from None
            if isinstance(exc, UpstreamTimeout):
                log.warning("upstream %s timed out: %s", route.service, exc)
                raise GovitError(
                    504,
                    "upstream_timeout",
                    f"the {route.service} service did not answer within {timeout:g} s",
                    extra={"service": route.service},
                ) from None
            if isinstance(exc, UpstreamUnavailable):
                log.warning("upstream %s unavailable: %s", route.service, exc)
                raise GovitError(
                    502,
                    "upstream_unavailable",
                    f"the {route.service} service is unavailable",
                    extra={"service": route.service},
                ) from None
            raise


@dataclass
class _LimitedBody:
    request: Request
    limit: int
    too_large: bool = False

    @classmethod
    def of(cls, request: Request, limit: int) -> _LimitedBody | None:
        """The body to stream, None when there is none; 413 when its declared size is over."""
        headers = request.headers
        declared = headers.get("content-length")
        if declared is not None and declared.strip().isdigit():
            if int(declared) > limit:
                raise payload_too_large(limit)
            if int(declared) == 0:
                return None
        elif "transfer-encoding" not in headers:
            return None
        return cls(request, limit)

    async def chunks(self) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in self.request.stream():
            received += len(chunk)
            if received > self.limit:
                self.too_large = True
                raise OverflowError("request body over the limit")
            if chunk:
                yield chunk


def _target(request: Request) -> str:
    """The request target as the caller sent it (still percent-encoded)."""
    raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    query: bytes = request.scope.get("query_string", b"")
    target = raw_path.decode("latin-1")
    return f"{target}?{query.decode('latin-1')}" if query else target


def _upstream_headers(request: Request) -> list[tuple[str, str]]:
    raw = request.headers.raw
    named = {
        token.strip().lower()
        for name, value in raw
        if name == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    headers: list[tuple[str, str]] = []
    forwarded_for = ""
    has_proto = has_host = False
    for name_bytes, value_bytes in raw:
        name = name_bytes.decode("latin-1").lower()
        value = value_bytes.decode("latin-1")
        if name == "x-forwarded-for":
            forwarded_for = f"{forwarded_for}, {value}" if forwarded_for else value
            continue
        if name in _NOT_FORWARDED or name in named:
            continue
        has_proto = has_proto or name == "x-forwarded-proto"
        has_host = has_host or name == "x-forwarded-host"
        headers.append((name, value))
    peer = client_ip(request)
    last = forwarded_for.rsplit(",", 1)[-1].strip()
    if last != peer:  # uvicorn may already have taken the client from a trusted proxy
        forwarded_for = f"{forwarded_for}, {peer}" if forwarded_for else peer
    headers.append(("x-forwarded-for", forwarded_for))
    if not has_proto:  # the scope's scheme, as request.url has it, without building a URL
        headers.append(("x-forwarded-proto", request.scope.get("scheme", "http")))
    if not has_host and "host" in request.headers:
        headers.append(("x-forwarded-host", request.headers["host"]))
    request_id = correlation_id.get()
    if request_id:
        headers.append(("x-request-id", request_id))
    return headers


def _returned_headers(upstream: UpstreamResponse) -> RawHeaders:
    named = {
        token.strip().lower().encode("latin-1")
        for name, value in upstream.headers
        if name.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    return [
        (name.lower(), value)
        for name, value in upstream.headers
        if name.decode("latin-1").lower() not in _NOT_RETURNED and name.lower() not in named
    ]


async def _answer(upstream: UpstreamResponse, method: str) -> Response:
    headers = _returned_headers(upstream)
    length = upstream.content_length
    if (
        method == "HEAD"
        or upstream.status in _BODILESS
        or (length is not None and length <= READ_WHOLE_BELOW)
    ):
        content = await upstream.read()
        response = Response(content=content, status_code=upstream.status)
        if length is None and upstream.status not in _BODILESS and method != "HEAD":
            headers.append((b"content-length", str(len(content)).encode()))
        response.raw_headers = headers
        return response
    return _StreamedAnswer(upstream, headers)


class _StreamedAnswer(StreamingResponse):
    """Streams the upstream's body; the upstream answer is released whatever happens."""

    def __init__(self, upstream: UpstreamResponse, headers: RawHeaders) -> None:
        super().__init__(upstream.chunks(), status_code=upstream.status)
        self.raw_headers = headers
        self._upstream = upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except (UpstreamUnavailable, UpstreamTimeout) as exc:
            # Headers are gone already: all that is left is to cut the connection so
            # the caller cannot take a truncated body for a whole one.
            log.warning("upstream broke off its answer: %s", exc)
            raise
        finally:
            await self._upstream.aclose()
