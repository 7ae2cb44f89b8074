"""Test kit for the gateway: real upstream servers on 127.0.0.1, tokens, a running gateway.

Upstreams are small FastAPI apps served by uvicorn in the test's own event loop,
on free ports; each records what it received so a test can check what was (or
was not) forwarded. The gateway runs in-process under httpx's ASGITransport with
its lifespan entered, so its upstream client is the real one, over real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from deploy.local.stack import free_port
from gateway.app import build_app
from gateway.settings import SERVICES, GatewaySettings
from shared.auth import DevKeys, mint_token

ISSUER = "https://id.govit.test"
AUDIENCE = "govit"
BIG = 1024 * 1024  # a streamed answer of this many bytes


@dataclass
class Seen:
    method: str
    raw_path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class UpstreamState:
    name: str
    seen: list[Seen] = field(default_factory=list)
    ready: bool = True
    openapi: dict[str, Any] | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def paths(self) -> list[str]:
        return [s.raw_path for s in self.seen]


def upstream_app(state: UpstreamState) -> FastAPI:
    """A stand-in service: echoes what it got, plus a few behaviours on fixed paths."""
    app = FastAPI(openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": state.name}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        return JSONResponse({"ready": state.ready}, status_code=200 if state.ready else 503)

    @app.get("/openapi.json")
    async def openapi() -> JSONResponse:
        if state.openapi is None:
            return JSONResponse({"detail": "none"}, status_code=404)
        return JSONResponse(state.openapi)

    @app.api_route(
        "/api/v1/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    )
    async def echo(request: Request, rest: str) -> Response:
        body = await request.body()
        raw_path = request.scope["raw_path"].decode("latin-1")
        state.seen.append(
            Seen(
                request.method,
                raw_path,
                request.scope["query_string"].decode("latin-1"),
                {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw},
                body,
            )
        )
        if rest.endswith("/hang"):  # answers only when the test lets it (bounded)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.release.wait(), 10)
        if rest.endswith("/half-second"):
            await asyncio.sleep(0.5)
        if rest.endswith("/big"):
            return StreamingResponse(_big_body(), media_type="application/octet-stream")
        if rest.endswith("/big-sized"):
            return Response(b"x" * BIG, media_type="application/octet-stream")
        if rest.endswith("/redirect"):
            return Response(status_code=302, headers={"Location": "/api/v1/elsewhere"})
        if rest.endswith("/cookie"):
            response = JSONResponse({"ok": True})
            response.set_cookie("session", "upstream-secret")
            response.headers.append("set-cookie", "other=2; Path=/")
            return response
        if rest.endswith("/refuse"):
            return JSONResponse(
                {"type": "about:blank", "status": 409, "code": "conflict_here"},
                status_code=409,
                media_type="application/problem+json",
            )
        return JSONResponse(
            {
                "service": state.name,
                "method": request.method,
                "raw_path": raw_path,
                "query": request.scope["query_string"].decode("latin-1"),
                "length": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
            },
            headers={"X-Upstream": state.name, "X-Request-ID": "upstream-own-id"},
        )

    return app


async def _big_body() -> AsyncIterator[bytes]:
    chunk = bytes(range(256)) * 256  # 64 KiB
    for _ in range(BIG // len(chunk)):
        yield chunk


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # pytest owns the signals
        yield


class Served:
    """An ASGI app served by uvicorn on 127.0.0.1:<free port>, in the running event loop."""

    def __init__(self, app: Any, *, lifespan: str = "off", **options: Any) -> None:
        """``options`` are more of uvicorn's (``http``, ``server_header``...)."""
        self.port = free_port()
        config = uvicorn.Config(
            app,
            **{
                "log_level": "warning",
                **options,
                "host": "127.0.0.1",
                "port": self.port,
                "lifespan": lifespan,
                "timeout_graceful_shutdown": 2,
            },
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Served:
        self._task = asyncio.create_task(self._server.serve())
        async with asyncio.timeout(10):
            while not self._server.started:
                if self._task.done():
                    self._task.result()  # raises what stopped it
                await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await asyncio.wait_for(self._task, 15)
        self._task = None


class Upstream(Served):
    """A stand-in service that records what it receives."""

    def __init__(self, name: str) -> None:
        self.state = UpstreamState(name)
        super().__init__(upstream_app(self.state))

    async def start(self) -> Upstream:
        await super().start()
        return self

    async def stop(self) -> None:
        self.state.release.set()
        await super().stop()


@contextlib.asynccontextmanager
async def upstreams(*names: str) -> AsyncIterator[dict[str, Upstream]]:
    started: dict[str, Upstream] = {}
    try:
        for name in names:
            started[name] = await Upstream(name).start()
        yield started
    finally:
        for upstream in started.values():
            await upstream.stop()


def gateway_settings(
    home: Path, jwks_file: Path, urls: dict[str, str], **overrides: Any
) -> GatewaySettings:
    values: dict[str, Any] = {
        "environment": "test",
        "home": home,
        "jwks_file": jwks_file,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "jwks_min_refresh_seconds": 0,
        "upstream_timeout_seconds": 5,
        "metrics_port": 0,  # any free port: tests run many gateways
        **{f"{name}_url": url for name, url in urls.items()},
    }
    values.update(overrides)
    return GatewaySettings(**values)


@contextlib.asynccontextmanager
async def running_gateway(
    settings: GatewaySettings, client_ip: str = "127.0.0.2"
) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            _APPS[client] = app
            yield client


_APPS: weakref.WeakKeyDictionary[httpx.AsyncClient, FastAPI] = weakref.WeakKeyDictionary()


async def scrape_metrics(gateway: httpx.AsyncClient) -> str:
    """What the gateway behind ``gateway`` (from ``running_gateway``) serves on its
    metrics port, over a real socket."""
    port = _APPS[gateway].state.metrics.port
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    response.raise_for_status()
    return response.text


def unreachable_urls() -> dict[str, str]:
    """URLs where nothing listens (a free port is closed once probed)."""
    return {name: f"http://127.0.0.1:{free_port()}" for name in SERVICES}


def write_jwks(path: Path, *jwks: dict[str, Any]) -> None:
    path.write_text(json.dumps({"keys": list(jwks)}))


def mint(
    keys: DevKeys, *, sub: str = "user-1", roles: tuple[str, ...] = ("unit",), **kw: Any
) -> str:
    return mint_token(
        keys.private_key,
        keys.kid,
        sub=sub,
        org=kw.pop("org", "00000000-0000-0000-0000-000000000001"),
        jurisdiction=kw.pop("jurisdiction", "jincheng"),
        roles=roles,
        issuer=kw.pop("issuer", ISSUER),
        audience=kw.pop("audience", AUDIENCE),
        **kw,
    )


def now() -> int:
    return int(time.time())
