"""Issue 16's door hardening: exact anonymous routes, a budget for failed
authentication, safe answer headers, long URLs, true 405s, metrics off the public
port, and Swagger UI served from the package."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.__main__ import HTTP_PROTOCOL, server_options
from gateway.app import build_app
from gateway.routes import RouteTable
from gateway.settings import GatewaySettings
from services.registry import app as registry
from shared.auth import DevKeys, Principal, TokenVerifier
from shared.errors import PROBLEM_JSON
from tests.gateway.conftest import SettingsFactory
from tests.gateway.support import Served, Upstream, mint, running_gateway, scrape_metrics
from tests.gateway.test_ratelimit import assert_rate_limited
from tests.support.fixtures import auth

ANSWERS = "/api/v1/evaluations/e-1/questionnaire-answers"
REPO = Path(__file__).resolve().parents[2]

# --- anonymous routes match the whole "METHOD path" -----------------------------------

LOOKALIKES = [
    f"{ANSWERS}%0A",  # `$` matches before a trailing newline
    f"{ANSWERS}%0D",
    f"{ANSWERS}%0D%0A",
    f"{ANSWERS}%09",
    "/api/v1/evaluations/e-1/questionnaire%0A-answers",
    "/api/v1/evaluations/e%2F1/questionnaire-answers",  # an encoded slash in the id
    "/api/v1/evaluations/e-1/questionnaire-answers%2F",
    "/api/v1/evaluations/e-1/questionnaire-answers/",
    "/api/v1/evaluations//questionnaire-answers",
    "/api/v1/evaluations/e-1//questionnaire-answers",
    "/api/v1/evaluations/e-1/questionnaire-answers/..",
    "/api/v1/evaluations/e-1/questionnaire-answers/%2e%2e/%2e%2e/systems",
    "/api/v1/evaluations/e-1/questionnaire-answers/./",
    "/api/v1/evaluations/e-1/Questionnaire-Answers",
    "/api/v1/evaluations/e-1/QUESTIONNAIRE-ANSWERS",
    "/api/v1/Evaluations/e-1/questionnaire-answers",
    "/API/v1/evaluations/e-1/questionnaire-answers",
]


@pytest.mark.parametrize("path", LOOKALIKES)
async def test_a_lookalike_of_the_anonymous_route_is_never_forwarded_without_a_token(
    gw: httpx.AsyncClient, services: dict[str, Upstream], path: str
) -> None:
    response = await gw.post(path, json={"q1": 5})
    assert response.status_code in (401, 404), response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert all(not s.state.seen for s in services.values())


async def test_the_anonymous_route_itself_still_needs_no_token(
    gw: httpx.AsyncClient, services: dict[str, Upstream]
) -> None:
    assert (await gw.post(ANSWERS, json={"q1": 5})).status_code == 200
    assert services["evaluation"].state.paths() == [ANSWERS]


async def test_a_path_with_a_control_character_belongs_to_no_service(
    gw: httpx.AsyncClient, keys: DevKeys, services: dict[str, Upstream]
) -> None:
    for path in ("/api/v1/systems/1%0A", "/api/v1/systems/1%00", "/api/v1/systems/%7F"):
        response = await gw.get(path, headers=auth(mint(keys)))
        assert response.status_code == 404, path
        assert response.json()["code"] == "route_not_found"
    assert not services["registry"].state.seen


def test_route_patterns_must_match_the_whole_request_line(make_settings: SettingsFactory) -> None:
    table = RouteTable(make_settings())
    assert table.is_anonymous("POST", ANSWERS)
    assert not table.is_anonymous("POST", ANSWERS + "\n")
    assert not table.is_anonymous("POST", ANSWERS + "\nx")
    assert table.body_limit("POST", "/api/v1/systems:import\n") == table.body_limit(
        "POST", "/api/v1/systems"
    )


# --- failed authentication has a budget per address -----------------------------------


def stranger_signed() -> str:
    return jwt.encode(
        {"sub": "x", "exp": 4102444800},
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": "whoever"},
    )


async def test_300_bad_tokens_from_one_address_cost_at_most_the_budget_of_verifications(
    make_settings: SettingsFactory,
    keys: DevKeys,
    services: dict[str, Upstream],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's case with the default budget (30/minute): the 31st bad token and
    everything after it are 429 with Retry-After, decided before any verification."""
    verifications = 0
    verify = TokenVerifier.verify

    async def counting(self: TokenVerifier, token: str) -> Principal:
        nonlocal verifications
        verifications += 1
        return await verify(self, token)

    monkeypatch.setattr(TokenVerifier, "verify", counting)
    bad = {"Authorization": f"Bearer {stranger_signed()}"}
    async with running_gateway(make_settings(), client_ip="127.0.0.20") as gw:
        statuses = [
            (await gw.get("/api/v1/systems/1", headers=bad)).status_code for _ in range(300)
        ]
        refused = await gw.get("/api/v1/systems/1", headers=bad)
        # A good token not yet verified is refused too: no verification is spent on it.
        fresh = await gw.get("/api/v1/systems/1", headers=auth(mint(keys)))
    assert statuses.count(401) == 30
    assert statuses.count(429) == 270
    assert verifications == 30
    assert_rate_limited(refused)
    assert_rate_limited(fresh)
    assert "failed authentications" in refused.json()["detail"]
    assert not services["registry"].state.seen


async def test_the_failure_budget_is_per_address_and_spares_a_remembered_token(
    make_settings: SettingsFactory, keys: DevKeys
) -> None:
    settings = make_settings(rate_limit_auth_failures="2/minute")
    good = auth(mint(keys, sub="behind-the-same-nat"))
    async with running_gateway(settings, client_ip="127.0.0.21") as gw:
        assert (await gw.get("/api/v1/systems/1", headers=good)).status_code == 200
        for _ in range(2):
            assert (await gw.get("/api/v1/systems/1")).status_code == 401  # no token at all
        assert_rate_limited(await gw.get("/api/v1/systems/1", headers=auth("a.b.c")))
        # Verified before, still remembered: no verification needed, so not refused.
        assert (await gw.get("/api/v1/systems/1", headers=good)).status_code == 200
    async with running_gateway(settings, client_ip="127.0.0.22") as other:
        assert (await other.get("/api/v1/systems/1", headers=auth("a.b.c"))).status_code == 401


async def test_the_failure_budget_covers_a_bad_token_on_the_anonymous_route(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(rate_limit_auth_failures="1/minute")
    async with running_gateway(settings, client_ip="127.0.0.23") as gw:
        assert (await gw.post(ANSWERS, headers=auth("a.b.c"), json={})).status_code == 401
        assert_rate_limited(await gw.post(ANSWERS, headers=auth("a.b.c"), json={}))


# --- answer headers and the longest request target --------------------------------------


async def test_every_answer_says_nosniff_and_no_store(gw: httpx.AsyncClient, keys: DevKeys) -> None:
    answers = [
        await gw.get("/api/v1/systems/1", headers=auth(mint(keys))),  # proxied
        await gw.get("/api/v1/systems/1"),  # 401 at the door
        await gw.get("/api/v1/nobody"),  # 404
        await gw.get("/healthz"),
        await gw.get("/openapi.json"),
    ]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url
        assert answer.headers["cache-control"] == "no-store", answer.request.url


@pytest.mark.parametrize(
    "target", [f"/api/v1/systems/{'a' * 8200}", f"/api/v1/systems?q={'a' * 8200}"]
)
async def test_a_target_over_8_kib_is_414_problem_json(
    gw: httpx.AsyncClient, keys: DevKeys, services: dict[str, Upstream], target: str
) -> None:
    response = await gw.get(target, headers=auth(mint(keys)))
    assert response.status_code == 414
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "uri_too_long"
    assert response.json()["limit_bytes"] == 8192
    assert len(response.content) < 1000  # the target is not echoed
    assert response.headers["x-request-id"]
    assert not services["registry"].state.seen


@pytest.fixture
async def served_gateway(make_settings: SettingsFactory) -> AsyncIterator[str]:
    """The gateway over a real socket, with the uvicorn options ``python -m gateway`` uses."""
    settings = make_settings()
    options = {k: v for k, v in server_options(settings).items() if k not in ("host", "port")}
    served = await Served(build_app(settings), lifespan="on", **options).start()
    try:
        yield served.url
    finally:
        await served.stop()


def raw_exchange(url: str, request: bytes) -> bytes:
    """Send ``request`` as bytes and read the whole answer (the server closes)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        with contextlib.suppress(OSError):  # the server may close before it all went
            conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def parsed(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("length", [100_000, 2_000_000])
async def test_over_a_socket_a_huge_url_is_414_problem_json_not_uvicorns_plain_400(
    served_gateway: str, length: int
) -> None:
    request = b"GET /api/v1/systems/" + b"a" * length + b" HTTP/1.1\r\nHost: gw\r\n\r\n"
    status, headers, body = parsed(await asyncio.to_thread(raw_exchange, served_gateway, request))
    assert status == 414
    assert headers["content-type"] == PROBLEM_JSON
    assert json.loads(body)["code"] == "uri_too_long"
    assert headers["x-content-type-options"] == "nosniff"
    assert "server" not in headers


async def test_over_a_socket_garbage_is_400_problem_json(served_gateway: str) -> None:
    answer = await asyncio.to_thread(raw_exchange, served_gateway, b"NOT HTTP AT ALL\r\n\r\n")
    status, headers, body = parsed(answer)
    assert status == 400
    assert headers["content-type"] == PROBLEM_JSON
    assert json.loads(body)["code"] == "request_malformed"


async def test_over_a_socket_no_answer_names_the_server(served_gateway: str, keys: DevKeys) -> None:
    async with httpx.AsyncClient(base_url=served_gateway) as client:
        ok = await client.get("/api/v1/systems/1", headers=auth(mint(keys)))
        near_limit = await client.get(f"/api/v1/systems/{'a' * 8000}", headers=auth(mint(keys)))
    assert ok.status_code == 200
    assert "server" not in ok.headers
    assert ok.headers["x-content-type-options"] == "nosniff"
    assert near_limit.status_code == 200  # up to 8 KiB reaches the service


def test_make_up_and_kubernetes_run_the_gateway_with_the_same_server_options() -> None:
    from deploy.local.up import _uvicorn

    command = _uvicorn("gateway.app:build_app", 8000).split()
    manifests = list(yaml.safe_load_all((REPO / "deploy/k8s/base/gateway.yaml").read_text()))
    container = manifests[0]["spec"]["template"]["spec"]["containers"][0]
    for args in (command, container["args"]):
        assert args[args.index("--http") + 1] == HTTP_PROTOCOL
        assert "--no-server-header" in args


# --- metrics on their own port ------------------------------------------------------------


async def test_metrics_are_not_served_on_the_public_port(
    gw: httpx.AsyncClient, keys: DevKeys
) -> None:
    await gw.get("/api/v1/systems/1", headers=auth(mint(keys)))
    for path in ("/metrics", "/metrics/", "/api/v1/metrics"):
        response = await gw.get(path)
        assert response.status_code in (401, 404), path
        assert "govit_gateway_requests_total" not in response.text
    assert "govit_gateway_requests_total" in await scrape_metrics(gw)


async def test_without_a_metrics_port_no_metrics_server_runs(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(metrics_port=None)
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        assert app.state.metrics is None
    assert GatewaySettings.model_fields["metrics_port"].default is None


async def test_the_metrics_server_stops_with_the_gateway(make_settings: SettingsFactory) -> None:
    app = build_app(make_settings())
    async with app.router.lifespan_context(app):
        port = app.state.metrics.port
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/metrics")).status_code == 200
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/metrics")


def test_kubernetes_and_make_up_serve_metrics_on_their_own_port() -> None:
    deployment, service = yaml.safe_load_all((REPO / "deploy/k8s/base/gateway.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["GOVIT_METRICS_PORT"] == "9464"
    assert {"containerPort": 9464, "name": "metrics"} in container["ports"]
    assert [p["targetPort"] for p in service["spec"]["ports"]] == [8000]  # not the Service's
    assert '"GOVIT_METRICS_PORT": str(metrics_port)' in (REPO / "deploy/local/up.py").read_text()


# --- Swagger UI from the package ------------------------------------------------------------

_URL_ATTRIBUTE = re.compile(r"""(?:src|href|url)\s*[:=]\s*["']([^"']+)["']""")


async def test_the_docs_page_loads_nothing_from_another_host(gw: httpx.AsyncClient) -> None:
    page = await gw.get("/docs")
    assert page.status_code == 200
    assert "//" not in re.sub(r"<!--.*?-->", "", page.text).replace("/openapi.json", "")
    urls = _URL_ATTRIBUTE.findall(page.text)
    assert "/openapi.json" in urls
    assets = [u for u in urls if u != "/openapi.json"]
    assert {u.rsplit("/", 1)[-1] for u in assets} == {
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "favicon-32x32.png",
    }
    assert '"validatorUrl": null' in page.text
    for url in assets:
        assert url.startswith("/docs/swagger-ui-5.31.0/")  # the pinned version
        asset = await gw.get(url)
        assert asset.status_code == 200, url
        assert asset.content
        assert "immutable" in asset.headers["cache-control"]
    script = await gw.get(next(u for u in assets if u.endswith(".js")))
    assert "javascript" in script.headers["content-type"]
    assert script.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/docs/swagger-ui-5.31.0/nothing.js",
        "/docs/swagger-ui-5.31.0/../../../__init__.py",
        "/docs/swagger-ui-5.31.0/%2e%2e/%2e%2e/__init__.py",
    ],
)
async def test_an_asset_that_is_not_there_is_a_404_problem(
    gw: httpx.AsyncClient, path: str
) -> None:
    response = await gw.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON


# --- a 405 names every method the path takes ------------------------------------------------


@pytest.fixture
async def real_registry(tmp_path: Path, jwks_file: Path) -> AsyncIterator[str]:
    """The registry's real app (its router and problem handlers); no database is
    needed for a request that no route takes."""
    settings = registry.RegistrySettings(environment="test", home=tmp_path, jwks_file=jwks_file)
    served = await Served(registry.build_app(settings)).start()
    try:
        yield served.url
    finally:
        await served.stop()


@pytest.mark.parametrize("method", ["DELETE", "PUT", "POST"])
async def test_a_405_from_the_registry_lists_every_method_of_the_path(
    make_settings: SettingsFactory, keys: DevKeys, real_registry: str, method: str
) -> None:
    async with running_gateway(make_settings(registry_url=real_registry)) as gw:
        response = await gw.request(
            method, "/api/v1/systems/0190c0de-0000-7000-8000-000000000001", headers=auth(mint(keys))
        )
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "method_not_allowed"
    assert response.headers["allow"] == "GET, PATCH"


async def test_a_method_the_gateway_never_forwards_is_its_own_405_problem(
    gw: httpx.AsyncClient, keys: DevKeys, services: dict[str, Upstream]
) -> None:
    response = await gw.request("TRACE", "/api/v1/systems/1", headers=auth(mint(keys)))
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["allow"] == "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    assert not services["registry"].state.seen
    asset = await gw.post("/docs/swagger-ui-5.31.0/swagger-ui.css")
    assert asset.status_code == 405
    assert asset.headers["content-type"] == PROBLEM_JSON
    assert asset.headers["allow"] == "GET, HEAD"


async def test_a_refusal_echoes_a_long_path_only_clipped(gw: httpx.AsyncClient) -> None:
    response = await gw.get(f"/api/v1/nobody/{'x' * 5000}")
    assert response.status_code == 404
    assert len(response.json()["detail"]) < 200


def header_lines(total: int, each: int = 1000) -> bytes:
    """About ``total`` bytes of header fields, ``each`` bytes a line."""
    return b"".join(b"X-Filler-%d: %s\r\n" % (n, b"a" * each) for n in range(total // each))


@pytest.mark.parametrize(
    "request_bytes",
    [
        # many ordinary headers, 40 KiB in all
        b"GET /api/v1/systems/1 HTTP/1.1\r\nHost: gw\r\n" + header_lines(40_000) + b"\r\n",
        # one header that never ends (the parser would buffer it without bound)
        b"GET /api/v1/systems/1 HTTP/1.1\r\nHost: gw\r\nX-Endless: " + b"a" * 200_000,
    ],
    ids=["many-headers", "endless-header"],
)
async def test_over_a_socket_headers_over_32_kib_are_431_problem_json(
    served_gateway: str, services: dict[str, Upstream], request_bytes: bytes
) -> None:
    answer = await asyncio.to_thread(raw_exchange, served_gateway, request_bytes)
    status, headers, body = parsed(answer)
    assert status == 431
    assert headers["content-type"] == PROBLEM_JSON
    problem_body = json.loads(body)
    assert (problem_body["code"], problem_body["limit_bytes"]) == (
        "request_header_fields_too_large",
        32 * 1024,
    )
    assert headers["x-content-type-options"] == "nosniff"
    assert not services["registry"].state.seen


async def test_over_a_socket_headers_under_the_limit_and_large_bodies_pass(
    served_gateway: str, keys: DevKeys, services: dict[str, Upstream]
) -> None:
    """The limit counts header fields only: 30 KiB of them pass, and so does a body of
    900 KiB arriving with its headers in the same reads, then a second request on the
    same connection."""
    filler = {f"x-filler-{n}": "a" * 1000 for n in range(30)}
    body = json.dumps({"name": "b" * 900_000})
    async with httpx.AsyncClient(base_url=served_gateway) as client:
        near = await client.get("/api/v1/systems/1", headers={**auth(mint(keys)), **filler})
        posted = await client.post("/api/v1/systems", content=body, headers=auth(mint(keys)))
        again = await client.get("/api/v1/systems/1", headers=auth(mint(keys)))
    assert near.status_code == 200, near.text
    assert posted.status_code != 431 and posted.status_code < 500, posted.text
    assert again.status_code == 200
