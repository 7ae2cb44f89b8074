"""The door: every token fault is a 401 problem+json that never reaches a service,
and signing keys rotate without a restart."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.auth import VerifiedTokens
from shared.auth import DevKeys, Principal, Role, TokenVerifier, ensure_dev_keys
from shared.auth.keys import public_jwk
from shared.auth.memory import TokenMemory
from shared.errors import PROBLEM_JSON, GovitError
from tests.gateway.conftest import SettingsFactory
from tests.gateway.support import (
    AUDIENCE,
    ISSUER,
    Upstream,
    mint,
    now,
    running_gateway,
    write_jwks,
)
from tests.support.fixtures import auth

PATH = "/api/v1/systems/1"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode())


def claims(**overrides: Any) -> dict[str, Any]:
    issued = now()
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "org": "unit-1",
        "jurisdiction": "jincheng",
        "roles": ["unit"],
        "iat": issued,
        "exp": issued + 600,
    }
    return {**base, **overrides}


def alg_none(keys: DevKeys) -> str:
    return f"{b64json({'alg': 'none', 'typ': 'JWT', 'kid': keys.kid})}.{b64json(claims())}."


def hs256_with_public_key(keys: DevKeys) -> str:
    """The classic confusion: HMAC-sign with the published public key as the secret."""
    header = b64json({"alg": "HS256", "typ": "JWT", "kid": keys.kid})
    payload = b64json(claims())
    pem = keys.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def signed_by_a_stranger(keys: DevKeys) -> str:
    """Our kid, somebody else's key: the signature does not hold."""
    stranger = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims(), stranger, algorithm="ES256", headers={"kid": keys.kid})


def rs256_under_an_ec_kid(keys: DevKeys) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims(), key, algorithm="RS256", headers={"kid": keys.kid})


FAULTS: dict[str, tuple[Any, str]] = {
    "no Authorization header": (None, "token_missing"),
    "a Basic credential": (lambda k: "Basic dXNlcjpwYXNz", "token_missing"),
    "an empty bearer": (lambda k: "Bearer ", "token_missing"),
    "a malformed token": (lambda k: "Bearer not.a-jwt", "token_malformed"),
    "garbage with three parts": (lambda k: "Bearer a.b.c", "token_malformed"),
    "alg none": (lambda k: f"Bearer {alg_none(k)}", "token_algorithm_refused"),
    "HS256 signed with the public key": (
        lambda k: f"Bearer {hs256_with_public_key(k)}",
        "token_algorithm_refused",
    ),
    "RS256 under an EC key's kid": (
        lambda k: f"Bearer {rs256_under_an_ec_kid(k)}",
        "token_algorithm_refused",
    ),
    "a bad signature": (lambda k: f"Bearer {signed_by_a_stranger(k)}", "token_signature_invalid"),
    "expired": (
        lambda k: f"Bearer {mint(k, now=now() - 7200, ttl_seconds=3600)}",
        "token_expired",
    ),
    "not yet valid": (
        lambda k: f"Bearer {mint(k, extra={'nbf': now() + 3600})}",
        "token_not_yet_valid",
    ),
    "the wrong audience": (
        lambda k: f"Bearer {mint(k, audience='someone-else')}",
        "token_audience_invalid",
    ),
    "the wrong issuer": (
        lambda k: f"Bearer {mint(k, issuer='https://evil.example')}",
        "token_issuer_invalid",
    ),
    "an unknown kid": (
        lambda k: f"Bearer {jwt.encode(claims(), k.private_key, 'ES256', {'kid': 'nobody'})}",
        "token_key_unknown",
    ),
    "no roles": (lambda k: f"Bearer {mint(k, roles=())}", "token_claims_invalid"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_every_token_fault_is_a_401_problem_that_never_reaches_a_service(
    gw: httpx.AsyncClient, keys: DevKeys, services: dict[str, Upstream], fault: str
) -> None:
    make, code = FAULTS[fault]
    headers = {} if make is None else {"Authorization": make(keys)}
    response = await gw.get(PATH, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["code"] == code
    # The stable code, never the verifier's internals (PyJWT's message, the kid sent).
    assert response.json()["detail"] == (
        "send Authorization: Bearer <token>" if code == "token_missing" else "invalid token"
    )
    assert response.headers["x-request-id"]
    assert not any(u.state.seen for u in services.values())


async def test_clock_skew_within_the_leeway_is_tolerated(
    gw: httpx.AsyncClient, keys: DevKeys
) -> None:
    just_expired = mint(keys, now=now() - 610, ttl_seconds=600)  # 10 s ago, leeway 30 s
    almost_valid = mint(keys, extra={"nbf": now() + 10})
    assert (await gw.get(PATH, headers=auth(just_expired))).status_code == 200
    assert (await gw.get(PATH, headers=auth(almost_valid))).status_code == 200


async def test_a_rotated_key_is_accepted_without_a_restart(
    make_settings: SettingsFactory,
    keys: DevKeys,
    jwks_file: Path,
    tmp_path: Path,
    services: dict[str, Upstream],
) -> None:
    rotated = ensure_dev_keys(tmp_path / "rotated")
    async with running_gateway(make_settings()) as gw:
        assert (await gw.get(PATH, headers=auth(mint(keys)))).status_code == 200

        before = await gw.get(PATH, headers=auth(mint(rotated)))
        assert before.status_code == 401
        assert before.json()["code"] == "token_key_unknown"

        # The identity platform publishes the new key next to the old one.
        write_jwks(jwks_file, public_jwk(keys.private_key), public_jwk(rotated.private_key))
        after = await gw.get(PATH, headers=auth(mint(rotated)))
        assert after.status_code == 200, after.text
        assert (await gw.get(PATH, headers=auth(mint(keys)))).status_code == 200

    forwarded = services["registry"].state.seen
    assert len(forwarded) == 3


async def test_a_key_source_refreshes_at_most_once_per_interval(
    make_settings: SettingsFactory, keys: DevKeys, jwks_file: Path, tmp_path: Path
) -> None:
    """Made-up kids cost one JWKS read per interval, so a rotation inside the interval
    is seen only after it (the interval is GOVIT_JWKS_MIN_REFRESH_SECONDS)."""
    rotated = ensure_dev_keys(tmp_path / "rotated")
    async with running_gateway(make_settings(jwks_min_refresh_seconds=3600)) as gw:
        assert (await gw.get(PATH, headers=auth(mint(keys)))).status_code == 200
        write_jwks(jwks_file, public_jwk(keys.private_key), public_jwk(rotated.private_key))
        response = await gw.get(PATH, headers=auth(mint(rotated)))
    assert response.json()["code"] == "token_key_unknown"


async def test_public_endpoints_need_no_token(gw: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
        assert (await gw.get(path)).status_code == 200, path


# --- the gateway's memory of verified tokens: the verifier's own, asked first -----------
# (Its rules, bounded, never past ``exp``, only successes, are tests/shared/test_auth_tokens.py's.)


class CountingVerifier(TokenVerifier):
    """A ``TokenVerifier`` whose signature check is a stand-in that counts its calls."""

    def __init__(self, memory: TokenMemory | None) -> None:
        super().__init__(None, ISSUER, AUDIENCE, ["ES256"], memory=memory)  # type: ignore[arg-type]
        self.calls: list[str] = []

    async def _verify(self, token: str) -> tuple[Principal, float]:
        self.calls.append(token)
        if token.startswith("bad"):
            raise GovitError(401, "token_signature_invalid")
        return Principal("user-1", "unit-1", "jincheng", frozenset({Role.UNIT})), 5000.0


async def test_the_gateway_asks_the_verifiers_memory_and_keeps_none_of_its_own() -> None:
    clock = [1000.0]
    verifier = CountingVerifier(TokenMemory(30, clock=lambda: clock[0]))
    tokens = VerifiedTokens(verifier)
    assert tokens.remembered("good") is None
    await tokens.verify("good")
    assert tokens.remembered("good") is not None
    await tokens.verify("good")
    assert verifier.calls == ["good"]
    clock[0] = 1030.0  # the verifier forgets it: so does the gateway
    assert tokens.remembered("good") is None
    assert not hasattr(tokens, "_entries")


async def test_a_refused_token_is_never_remembered() -> None:
    verifier = CountingVerifier(TokenMemory(30))
    tokens = VerifiedTokens(verifier)
    for _ in range(2):
        with pytest.raises(GovitError):
            await tokens.verify("bad")
    assert tokens.remembered("bad") is None
    assert len(verifier.calls) == 2


async def test_without_a_memory_every_request_is_verified() -> None:
    verifier = CountingVerifier(TokenMemory(0))
    tokens = VerifiedTokens(verifier)
    await tokens.verify("good")
    await tokens.verify("good")
    assert tokens.remembered("good") is None
    assert len(verifier.calls) == 2
