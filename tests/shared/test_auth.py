"""JWT authentication: what is accepted, and every way a token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from jwt.algorithms import RSAAlgorithm

from shared.auth import (
    CurrentPrincipal,
    DevKeys,
    JwksKeySource,
    Principal,
    Role,
    TokenVerifier,
    bearer_token,
    cli,
    current_principal,
    ensure_dev_keys,
    jwk_thumbprint,
    mint_token,
    parse_jwks,
    require_roles,
)
from shared.auth.keys import public_jwk
from shared.errors import GovitError
from shared.settings import GovitSettings

ISS = "https://id.test"
AUD = "govit"
LEEWAY = 30


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj: Any) -> str:
    return b64(json.dumps(obj).encode())


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "sub": "u-42",
        "org": "unit-7",
        "jurisdiction": "jincheng",
        "roles": ["unit"],
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}  # None drops a claim


def sign(keys: DevKeys, payload: dict[str, Any] | bytes, **header: Any) -> str:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return jwt.PyJWS().encode(body, keys.private_key, "ES256", headers={"kid": keys.kid, **header})


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64json(header)}.{b64json(payload)}."


@pytest.fixture
def keys(tmp_path: Path) -> DevKeys:
    return ensure_dev_keys(tmp_path / "keys")


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_verifier(
    jwks_file: Path, algorithms: tuple[str, ...] = ("ES256", "RS256")
) -> TokenVerifier:
    source = JwksKeySource.from_file(jwks_file, min_refresh_interval=0)
    return TokenVerifier(source, ISS, AUD, algorithms, leeway=LEEWAY)


@pytest.fixture
def verifier(keys: DevKeys) -> TokenVerifier:
    return make_verifier(keys.jwks_file)


def write_jwks(path: Path, *jwks: dict[str, Any]) -> None:
    path.write_text(json.dumps({"keys": list(jwks)}))


def rsa_jwk(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {"kty": "RSA", "n": jwk["n"], "e": jwk["e"], "kid": jwk_thumbprint(jwk)}


async def refusal(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(GovitError) as caught:
        await verifier.verify(token)
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")
    return caught.value.code


# --- accepted -----------------------------------------------------------------------------


async def test_a_valid_token_yields_its_principal(keys: DevKeys, verifier: TokenVerifier) -> None:
    token = mint_token(
        keys.private_key,
        keys.kid,
        sub="u-42",
        org="unit-7",
        jurisdiction="jincheng",
        roles=["unit", "finance"],
        issuer=ISS,
        audience=AUD,
    )
    principal = await verifier.verify(token)
    assert principal == Principal(
        "u-42", "unit-7", "jincheng", frozenset({Role.UNIT, Role.FINANCE})
    )
    assert principal.has_role("finance") and principal.has_role(Role.AUDITOR, Role.UNIT)
    assert not principal.has_role(Role.ADMIN)


async def test_an_audience_list_containing_ours_is_accepted(
    keys: DevKeys, verifier: TokenVerifier
) -> None:
    assert await verifier.verify(sign(keys, claims(aud=["other", AUD])))


async def test_clock_skew_within_the_leeway_is_tolerated(
    keys: DevKeys, verifier: TokenVerifier
) -> None:
    now = int(time.time())
    token = sign(keys, claims(iat=now + 10, nbf=now + 10, exp=now - 10))
    assert (await verifier.verify(token)).sub == "u-42"


async def test_a_token_without_kid_is_accepted_when_the_jwks_holds_one_key(
    keys: DevKeys, verifier: TokenVerifier
) -> None:
    token = jwt.encode(claims(), keys.private_key, algorithm="ES256")
    assert await verifier.verify(token)


# --- refused: transport and structure -------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "", "Basic dXNlcjpwdw==", "Bearer", "Bearer   ", "Token abc"]
)
def test_a_request_without_a_bearer_token_is_refused(authorization: str | None) -> None:
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    request = Request({"type": "http", "headers": headers})
    with pytest.raises(GovitError) as caught:
        bearer_token(request)
    assert (caught.value.status, caught.value.code) == (401, "token_missing")


def test_the_bearer_scheme_is_case_insensitive() -> None:
    request = Request({"type": "http", "headers": [(b"authorization", b"bearer  abc.def.ghi")]})
    assert bearer_token(request) == "abc.def.ghi"


async def test_an_empty_token_is_missing(verifier: TokenVerifier) -> None:
    assert await refusal(verifier, "") == "token_missing"


GARBAGE = [
    " ",
    "abc",
    "a.b",
    "a.b.c.d",
    "...",
    "a..b",
    "é.é.é",
    "\ud800.\ud800.\ud800",
    "\x00.\x00.\x00",
    "x" * 20_000 + ".e30.AAAA",
    "Bearer abc.def.ghi",
    f"{b64(b'{')}.e30.",
    f"{b64json([])}.e30.",
    f"{b64json('alg')}.e30.",
    f"{b64(b'[' * 5000)}.e30.",
    b64(bytes([0xFF, 0xFE])) + ".e30.",
    f"{b64json({'alg': 5})}.e30.AAAA",
    f"{b64json({'alg': 'ES256', 'kid': 5})}.e30.AAAA",
    f"{b64json({'alg': 'ES256', 'crit': ['exp']})}.e30.AAAA",
    f"{b64json({'alg': 'ES256', 'b64': False, 'crit': ['b64']})}.e30.AAAA",
    f"{b64json({'alg': 'ES256'})}.e30.A",
    f"{b64json({'alg': 'ES256'})}.e30=.AAAA",
    f"{b64json({'alg': 'ES256'})}.e30.!!!!",
]


@pytest.mark.parametrize("token", GARBAGE)
async def test_malformed_tokens_are_refused_with_401(verifier: TokenVerifier, token: str) -> None:
    assert await refusal(verifier, token) in {
        "token_malformed",
        "token_algorithm_refused",
        "token_key_unknown",
        "token_signature_invalid",
    }


async def test_random_garbage_and_mutations_never_escape_as_anything_but_401(
    keys: DevKeys, verifier: TokenVerifier
) -> None:
    rng = random.Random(7)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ é\x00"
    valid = sign(keys, claims())
    for _ in range(300):
        await refusal(verifier, "".join(rng.choices(alphabet, k=rng.randint(1, 400))))
        i = rng.randrange(len(valid))
        flipped = rng.choice([c for c in alphabet if c != valid[i]])
        await refusal(verifier, valid[:i] + flipped + valid[i + 1 :])


# Payloads are built when the test runs, not at collection: a claim set made at
# collection expires (exp = now + 600 s) before a long suite reaches the test.
@pytest.mark.parametrize(
    "payload",
    [
        lambda: b"[]",
        lambda: b"not json",
        lambda: b'"a string"',
        lambda: json.dumps(claims(exp="soon")).encode(),
        lambda: json.dumps(claims(exp=1e400)).encode(),
        lambda: json.dumps(claims(nbf="NaN")).encode(),
        lambda: json.dumps(claims(iat="yesterday")).encode(),
        lambda: json.dumps(claims(aud=7)).encode(),
        lambda: json.dumps(claims(iss=["x"])).encode(),
    ],
)
async def test_a_validly_signed_nonsensical_payload_is_refused(
    keys: DevKeys, verifier: TokenVerifier, payload: Callable[[], bytes]
) -> None:
    assert await refusal(verifier, sign(keys, payload())) in {
        "token_malformed",
        "token_claims_invalid",
        "token_audience_invalid",
        "token_issuer_invalid",
    }


# --- refused: algorithms and keys ------------------------------------------------------------


async def test_alg_none_is_refused(keys: DevKeys, verifier: TokenVerifier) -> None:
    for alg in ("none", "None", "NONE", ""):
        token = unsigned({"alg": alg, "typ": "JWT", "kid": keys.kid}, claims(roles=["admin"]))
        assert await refusal(verifier, token) == "token_algorithm_refused"


@pytest.mark.parametrize("secret_form", ["pem", "jwk_json", "jwks_file"])
async def test_hs256_signed_with_the_public_key_as_secret_is_refused(
    keys: DevKeys, verifier: TokenVerifier, secret_form: str
) -> None:
    public = keys.private_key.public_key()
    secret = {
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk_json": json.dumps(public_jwk(keys.private_key)).encode(),
        "jwks_file": keys.jwks_file.read_bytes(),
    }[secret_form]
    signing_input = f"{b64json({'alg': 'HS256', 'kid': keys.kid})}.{b64json(claims())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    assert await refusal(verifier, f"{signing_input}.{b64(mac)}") == "token_algorithm_refused"


async def test_rs256_is_refused_where_only_es256_is_allowed(
    keys: DevKeys, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    jwks_file = tmp_path / "mixed.json"
    write_jwks(jwks_file, public_jwk(keys.private_key), rsa_jwk(rsa_key))
    kid = rsa_jwk(rsa_key)["kid"]
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": kid})
    assert await make_verifier(jwks_file, ("ES256", "RS256")).verify(token)  # the key is fine
    assert await refusal(make_verifier(jwks_file, ("ES256",)), token) == "token_algorithm_refused"


async def test_the_header_alg_must_suit_the_key_it_names(
    keys: DevKeys, rsa_key: rsa.RSAPrivateKey, verifier: TokenVerifier
) -> None:
    # Signed with an RSA key but pointing at the EC key: RS256 is allowed, yet not for that key.
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": keys.kid})
    assert await refusal(verifier, token) == "token_algorithm_refused"


async def test_a_key_pinned_to_one_alg_verifies_only_that_alg(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    jwk = {**rsa_jwk(rsa_key), "alg": "PS256"}
    write_jwks(tmp_path / "jwks.json", jwk)
    verifier = make_verifier(tmp_path / "jwks.json", ("RS256", "PS256"))
    headers = {"kid": jwk["kid"]}
    assert await verifier.verify(jwt.encode(claims(), rsa_key, algorithm="PS256", headers=headers))
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers=headers)
    assert await refusal(verifier, token) == "token_algorithm_refused"


@pytest.mark.parametrize(
    "algorithms", [("HS256",), ("ES256", "HS256"), ("none",), ("ES256", "none"), (), ("ES521",)]
)
def test_a_verifier_refuses_to_be_built_with_hmac_none_or_nothing(
    keys: DevKeys, algorithms: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        make_verifier(keys.jwks_file, algorithms)


async def test_a_tampered_payload_fails_the_signature(
    keys: DevKeys, verifier: TokenVerifier
) -> None:
    header, _, signature = sign(keys, claims()).split(".")
    forged = f"{header}.{b64json(claims(roles=['admin']))}.{signature}"
    assert await refusal(verifier, forged) == "token_signature_invalid"


async def test_a_token_signed_by_a_stranger_fails_the_signature(
    keys: DevKeys, verifier: TokenVerifier
) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(claims(), stranger, algorithm="ES256", headers={"kid": keys.kid})
    assert await refusal(verifier, token) == "token_signature_invalid"


async def test_an_unknown_kid_is_refused(keys: DevKeys, verifier: TokenVerifier) -> None:
    assert await refusal(verifier, sign(keys, claims(), kid="nobody")) == "token_key_unknown"


async def test_a_rotated_jwks_is_picked_up_without_rebuilding_the_verifier(
    keys: DevKeys, verifier: TokenVerifier
) -> None:
    assert await verifier.verify(sign(keys, claims()))  # the old set is cached
    new_key = ec.generate_private_key(ec.SECP256R1())
    new_jwk = public_jwk(new_key)
    token = mint_token(
        new_key,
        new_jwk["kid"],
        sub="u-9",
        org="unit-7",
        jurisdiction="jincheng",
        roles=["auditor"],
        issuer=ISS,
        audience=AUD,
    )
    assert await refusal(verifier, token) == "token_key_unknown"  # not published yet

    write_jwks(keys.jwks_file, new_jwk)  # the platform rotates: the old key is withdrawn
    assert (await verifier.verify(token)).roles == {Role.AUDITOR}
    old = sign(keys, claims())
    assert await refusal(verifier, old) == "token_key_unknown"


async def test_bogus_kids_reload_the_jwks_at_most_once_per_interval(keys: DevKeys) -> None:
    loads = 0
    now = [1000.0]

    async def loader() -> Any:
        nonlocal loads
        loads += 1
        return json.loads(keys.jwks_file.read_text())

    source = JwksKeySource(loader, min_refresh_interval=10, clock=lambda: now[0])
    verifier = TokenVerifier(source, ISS, AUD, ["ES256"], leeway=LEEWAY)
    for i in range(50):
        assert (
            await refusal(verifier, sign(keys, claims(), kid=f"bogus-{i}")) == "token_key_unknown"
        )
    assert loads == 1
    assert await verifier.verify(sign(keys, claims()))  # known kids still pass
    now[0] += 10
    await refusal(verifier, sign(keys, claims(), kid="bogus-again"))
    assert loads == 2


async def test_unreadable_keys_are_a_503_and_an_outage_keeps_the_cached_keys(
    keys: DevKeys, tmp_path: Path
) -> None:
    missing = make_verifier(tmp_path / "absent.json")
    with pytest.raises(GovitError) as caught:
        await missing.verify(sign(keys, claims()))
    assert (caught.value.status, caught.value.code) == (503, "auth_keys_unavailable")

    source = JwksKeySource.from_file(keys.jwks_file, min_refresh_interval=0, max_age=0)
    verifier = TokenVerifier(source, ISS, AUD, ["ES256"], leeway=LEEWAY)
    assert await verifier.verify(sign(keys, claims()))
    keys.jwks_file.write_text("{ broken")
    assert await verifier.verify(sign(keys, claims()))


def test_only_asymmetric_public_signing_keys_are_taken_from_a_jwks(
    keys: DevKeys, rsa_key: rsa.RSAPrivateKey
) -> None:
    good_ec = public_jwk(keys.private_key)
    good_rsa = rsa_jwk(rsa_key)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point)
    ed = {"kty": "OKP", "crv": "Ed25519", "x": b64(bytes(32)), "kid": "ed"}
    document = {
        "keys": [
            {"kty": "oct", "k": b64(b"a shared secret"), "kid": "hmac"},
            {**good_ec, "kid": "with-private-part", "d": b64(bytes(32))},
            {**good_ec, "kid": "for-encryption", "use": "enc"},
            {**good_ec, "kid": "hs-pinned", "alg": "HS256"},
            {**rsa_jwk(weak), "kid": "weak-rsa"},
            {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "broken"},
            "not a key",
            good_ec,
            good_rsa,
            ed,
            {**public_jwk(ec.generate_private_key(ec.SECP256R1())), "kid": good_ec["kid"]},
        ]
    }
    parsed = parse_jwks(document)
    assert [k.kid for k in parsed] == [good_ec["kid"], good_rsa["kid"], "ed"]
    assert parsed[0].jwk["x"] == good_ec["x"]  # of two keys with one kid, the first is used
    with pytest.raises(ValueError):
        parse_jwks({"no": "keys"})


async def test_a_jwks_url_is_fetched_and_refetched_on_rotation(keys: DevKeys) -> None:
    published = {"keys": [public_jwk(keys.private_key)]}
    fetches: list[str] = []

    def idp(request: httpx.Request) -> httpx.Response:
        fetches.append(str(request.url))
        return httpx.Response(200, json=published)

    client = httpx.AsyncClient(transport=httpx.MockTransport(idp))
    source = JwksKeySource.from_url(
        "https://id.test/jwks.json", client=client, min_refresh_interval=0
    )
    verifier = TokenVerifier(source, ISS, AUD, ["ES256"], leeway=LEEWAY)
    assert await verifier.verify(sign(keys, claims()))
    assert await verifier.verify(sign(keys, claims()))
    assert fetches == ["https://id.test/jwks.json"]  # cached

    new_key = ec.generate_private_key(ec.SECP256R1())
    published = {"keys": [public_jwk(keys.private_key), public_jwk(new_key)]}
    token = jwt.encode(
        claims(), new_key, algorithm="ES256", headers={"kid": public_jwk(new_key)["kid"]}
    )
    assert await verifier.verify(token)
    assert len(fetches) == 2
    await verifier.aclose()
    await client.aclose()


# --- refused: claims --------------------------------------------------------------------------


async def test_an_expired_token_is_refused(keys: DevKeys, verifier: TokenVerifier) -> None:
    now = int(time.time())
    token = sign(keys, claims(iat=now - 3600, exp=now - LEEWAY - 5))
    assert await refusal(verifier, token) == "token_expired"


async def test_a_token_not_yet_valid_is_refused(keys: DevKeys, verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert await refusal(verifier, sign(keys, claims(nbf=now + 600))) == "token_not_yet_valid"
    assert await refusal(verifier, sign(keys, claims(iat=now + 600))) == "token_not_yet_valid"


async def test_a_token_for_another_audience_is_refused(
    keys: DevKeys, verifier: TokenVerifier
) -> None:
    for aud in ("payroll", ["payroll", "hr"], "govit-extra"):
        assert await refusal(verifier, sign(keys, claims(aud=aud))) == "token_audience_invalid"


async def test_a_token_from_another_issuer_is_refused(
    keys: DevKeys, verifier: TokenVerifier
) -> None:
    token = sign(keys, claims(iss="https://evil.test"))
    assert await refusal(verifier, token) == "token_issuer_invalid"


@pytest.mark.parametrize("claim", ["roles", "org", "jurisdiction", "sub", "exp", "iss", "aud"])
async def test_a_token_missing_a_required_claim_is_refused(
    keys: DevKeys, verifier: TokenVerifier, claim: str
) -> None:
    token = sign(keys, claims(**{claim: None}))
    assert await refusal(verifier, token) == "token_claims_invalid"


@pytest.mark.parametrize(
    "overrides",
    [
        {"roles": ["root"]},
        {"roles": ["unit", "root"]},
        {"roles": "unit"},
        {"roles": []},
        {"roles": [1]},
        {"roles": {"unit": True}},
        {"org": ""},
        {"org": 7},
        {"jurisdiction": ["jincheng"]},
        {"sub": 42},
        {"sub": "x" * 1000},
    ],
)
async def test_claims_of_the_wrong_shape_are_refused(
    keys: DevKeys, verifier: TokenVerifier, overrides: dict[str, Any]
) -> None:
    assert await refusal(verifier, sign(keys, claims(**overrides))) == "token_claims_invalid"


# --- FastAPI dependencies ---------------------------------------------------------------------


def make_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    app.state.token_verifier = verifier

    @app.exception_handler(GovitError)
    async def render(request: Request, exc: GovitError) -> JSONResponse:
        return JSONResponse({"code": exc.code}, status_code=exc.status, headers=exc.headers)

    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"sub": principal.sub, "org": principal.org}

    @app.post("/disbursements")
    async def disburse(
        principal: Principal = Depends(require_roles(Role.FINANCE, "admin")),
    ) -> dict[str, str]:
        return {"by": principal.sub}

    return app


@pytest.fixture
def client_for(verifier: TokenVerifier) -> Callable[[], httpx.AsyncClient]:
    def build() -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=make_app(verifier))
        return httpx.AsyncClient(transport=transport, base_url="http://svc")

    return build


async def test_routes_refuse_a_missing_or_bad_token_with_401(
    keys: DevKeys, client_for: Callable[[], httpx.AsyncClient]
) -> None:
    async with client_for() as client:
        response = await client.get("/me")
        assert (response.status_code, response.json()) == (401, {"code": "token_missing"})
        assert response.headers["www-authenticate"] == 'Bearer realm="govit"'
        response = await client.get("/me", headers={"Authorization": "Bearer not.a.jwt"})
        assert (response.status_code, response.json()) == (401, {"code": "token_malformed"})
        expired = sign(keys, claims(exp=int(time.time()) - 3600))
        response = await client.get("/me", headers={"Authorization": f"Bearer {expired}"})
        assert (response.status_code, response.json()) == (401, {"code": "token_expired"})


async def test_a_refused_token_is_told_its_code_never_the_verifiers_detail(
    keys: DevKeys, verifier: TokenVerifier
) -> None:
    """At a service as at the gateway: PyJWT's messages and the ``kid`` sent stay in
    the log (the same words whichever door refused it)."""
    app = FastAPI()
    app.state.token_verifier = verifier

    def sent(authorization: str) -> Request:
        headers = [(b"authorization", authorization.encode())] if authorization else []
        return Request(
            {"type": "http", "app": app, "method": "GET", "path": "/", "headers": headers}
        )

    expired = sign(keys, claims(exp=int(time.time()) - 3600))
    unknown_kid = jwt.encode(claims(), keys.private_key, "ES256", headers={"kid": "k-x"})
    cases = [
        ("", "token_missing", "send Authorization: Bearer <token>"),
        ("Bearer abc.def.ghi", "token_malformed", "invalid token"),
        (f"Bearer {expired}", "token_expired", "invalid token"),
        (f"Bearer {unknown_kid}", "token_key_unknown", "invalid token"),
    ]
    for authorization, code, detail in cases:
        with pytest.raises(GovitError) as caught:
            await current_principal(sent(authorization))
        assert (caught.value.status, caught.value.code, caught.value.detail) == (401, code, detail)
    good = await current_principal(sent(f"Bearer {sign(keys, claims())}"))
    assert good.sub == "u-42"


async def test_routes_refuse_a_principal_without_the_role_with_403(
    keys: DevKeys, client_for: Callable[[], httpx.AsyncClient]
) -> None:
    unit = {"Authorization": f"Bearer {sign(keys, claims(roles=['unit', 'auditor']))}"}
    finance = {"Authorization": f"Bearer {sign(keys, claims(roles=['finance']))}"}
    async with client_for() as client:
        response = await client.get("/me", headers=unit)
        assert response.json() == {"sub": "u-42", "org": "unit-7"}
        response = await client.post("/disbursements", headers=unit)
        assert (response.status_code, response.json()) == (403, {"code": "role_required"})
        response = await client.post("/disbursements", headers=finance)
        assert (response.status_code, response.json()) == (200, {"by": "u-42"})


def test_require_roles_rejects_unknown_role_names() -> None:
    with pytest.raises(ValueError):
        require_roles("superuser")
    with pytest.raises(ValueError):
        require_roles()


# --- development keys and the CLI -------------------------------------------------------------


def test_dev_keys_are_created_once_private_and_published_public(tmp_path: Path) -> None:
    first = ensure_dev_keys(tmp_path / "keys")
    assert stat.S_IMODE(first.private_key_file.stat().st_mode) == 0o600
    document = json.loads(first.jwks_file.read_text())
    (jwk,) = document["keys"]
    assert "d" not in jwk and jwk["kid"] == first.kid == jwk_thumbprint(jwk)
    again = ensure_dev_keys(tmp_path / "keys")
    assert again.kid == first.kid
    assert again.private_key_file.read_bytes() == first.private_key_file.read_bytes()


def test_processes_starting_together_share_one_dev_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        kids = set(pool.map(lambda _: ensure_dev_keys(tmp_path / "keys").kid, range(32)))
    assert len(kids) == 1
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["jwks.json", "signing-key.pem"]


def test_the_kid_is_the_rfc_7638_thumbprint() -> None:
    # RFC 7638 §3.1 example key and its published thumbprint.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qvzq"
        "Y368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0"
        "fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    jwk = {"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


async def test_the_cli_mints_a_token_that_settings_based_verifiers_accept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOVIT_HOME", str(tmp_path))
    argv = ["token", "--role", "unit,reviewer", "--role", "auditor", "--org", "unit-3"]
    assert cli.main([*argv, "--jurisdiction", "jincheng", "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip()

    verifier = TokenVerifier.from_settings(GovitSettings(), min_refresh_interval=0)
    principal = await verifier.verify(token)
    assert principal == Principal(
        "dev-unit", "unit-3", "jincheng", frozenset({Role.UNIT, Role.REVIEWER, Role.AUDITOR})
    )
    assert stat.S_IMODE((tmp_path / "keys" / "signing-key.pem").stat().st_mode) == 0o600


def test_the_cli_refuses_unknown_roles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVIT_HOME", str(tmp_path))
    with pytest.raises(SystemExit):
        cli.main(["token", "--role", "root", "--org", "u", "--jurisdiction", "jincheng"])


async def test_from_settings_creates_dev_keys_so_a_fresh_checkout_starts(tmp_path: Path) -> None:
    verifier = TokenVerifier.from_settings(GovitSettings(home=tmp_path))
    keys = ensure_dev_keys(tmp_path / "keys")
    token = mint_token(
        keys.private_key,
        keys.kid,
        sub="s",
        org="o",
        jurisdiction="j",
        roles=["platform"],
        issuer=GovitSettings().jwt_issuer,
        audience=GovitSettings().jwt_audience,
    )
    assert (await verifier.verify(token)).roles == {Role.PLATFORM}
