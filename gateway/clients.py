"""The one pooled HTTP client the gateway sends upstream with.

Two interchangeable implementations behind ``UpstreamClient``: an aiohttp
``ClientSession`` (the default: several times faster as a proxy, see
``bench/gateway.py`` and docs/gateway.md) and httpx's default transport (kept so
the bench can measure both). Both are created in the app's lifespan, pool their
connections, never follow redirects, never keep cookies and never decompress:
bytes pass through as the upstream sent them.

Failures come out as two exceptions only: ``UpstreamUnavailable`` (refused,
reset, closed early: 502) and ``UpstreamTimeout`` (504).
"""

from __future__ import annotations

import http.cookiejar
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

import aiohttp
import httpx
from yarl import URL

Headers = Sequence[tuple[str, str]]
RawHeaders = list[tuple[bytes, bytes]]


class UpstreamUnavailable(Exception):
    """The upstream could not be reached, or broke the exchange."""


class UpstreamTimeout(Exception):
    """The upstream did not answer (or stalled) within the route's timeout."""


class UpstreamResponse(Protocol):
    status: int
    headers: RawHeaders
    content_length: int | None

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class UpstreamClient(Protocol):
    name: str

    async def send(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: AsyncIterator[bytes] | None,
        read_timeout: float,
    ) -> UpstreamResponse:
        """Send a request; the answer's body is left unread (call ``aclose`` when done).

        ``read_timeout`` bounds the upstream's silence: before its answer (from the
        end of the request body) and between two reads of the answer's body.

        ``url`` must already be percent-encoded: it is sent as given.
        """
        ...

    async def aclose(self) -> None: ...


# --- aiohttp ---------------------------------------------------------------------------


class _AiohttpResponse:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: RawHeaders = list(response.raw_headers)
        self.content_length = response.content_length

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except aiohttp.ServerTimeoutError as exc:
            raise UpstreamTimeout(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(str(exc) or type(exc).__name__) from exc
        finally:
            self._response.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except aiohttp.ServerTimeoutError as exc:
            raise UpstreamTimeout(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        # release() returns a fully read connection to the pool and closes a partly
        # read one, so a client that went away never leaves a dirty connection behind.
        self._response.release()


class AiohttpClient:
    name = "aiohttp"

    def __init__(self, *, pool_size: int, connect_timeout: float) -> None:
        self._connect_timeout = connect_timeout
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool_size, limit_per_host=0, ttl_dns_cache=10),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None),
        )

    async def send(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: AsyncIterator[bytes] | None,
        read_timeout: float,
    ) -> UpstreamResponse:
        limits = self._timeouts.get(read_timeout)
        if limits is None:  # one per route timeout: a handful, built once each
            limits = self._timeouts[read_timeout] = aiohttp.ClientTimeout(
                total=None,
                connect=self._connect_timeout + read_timeout,  # a pooled connection too
                sock_connect=self._connect_timeout,
                sock_read=read_timeout,  # from the end of the request body, then between reads
            )
        try:
            response = await self._session.request(
                method,
                URL(url, encoded=True),
                headers=list(headers),
                data=body,
                allow_redirects=False,
                timeout=limits,
            )
        except aiohttp.ServerTimeoutError as exc:
            raise UpstreamTimeout(str(exc) or type(exc).__name__) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(str(exc) or type(exc).__name__) from exc
        return _AiohttpResponse(response)

    async def aclose(self) -> None:
        await self._session.close()


# --- httpx -----------------------------------------------------------------------------


class _HttpxResponse:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers: RawHeaders = list(response.headers.raw)
        length = response.headers.get("content-length")
        self.content_length = int(length) if length and length.isdigit() else None

    async def read(self) -> bytes:
        try:
            return b"".join([chunk async for chunk in self.chunks()])
        finally:
            await self._response.aclose()

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(str(exc)) from exc
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        await self._response.aclose()


_HTTPX_DEFAULT_HEADERS = ("accept", "accept-encoding", "connection", "user-agent")


class HttpxClient:
    name = "httpx"

    def __init__(self, *, pool_size: int, connect_timeout: float) -> None:
        self._connect_timeout = connect_timeout
        no_cookies = http.cookiejar.CookieJar(
            policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
        )
        self._client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
            cookies=no_cookies,
            follow_redirects=False,
            trust_env=False,
        )

    async def send(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: AsyncIterator[bytes] | None,
        read_timeout: float,
    ) -> UpstreamResponse:
        request = self._client.build_request(
            method,
            url,
            headers=list(headers),
            content=body,
            timeout=httpx.Timeout(read_timeout, connect=self._connect_timeout),
        )
        sent = {name.lower() for name, _ in headers}
        for name in _HTTPX_DEFAULT_HEADERS:  # the client's own defaults are not the caller's
            if name not in sent:
                request.headers.pop(name, None)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(str(exc) or type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(str(exc) or type(exc).__name__) from exc
        return _HttpxResponse(response)

    async def aclose(self) -> None:
        await self._client.aclose()


def make_client(name: str, *, pool_size: int, connect_timeout: float) -> UpstreamClient:
    if name == "aiohttp":
        return AiohttpClient(pool_size=pool_size, connect_timeout=connect_timeout)
    if name == "httpx":
        return HttpxClient(pool_size=pool_size, connect_timeout=connect_timeout)
    raise ValueError(f"unknown upstream client {name!r}")
