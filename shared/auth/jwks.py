"""Verification keys from a JWKS document (a file or the identity platform's URL).

The set is cached and re-read when a token names an unknown ``kid`` (so the
platform can rotate keys without a restart) or when it is older than ``max_age``
(so a withdrawn key stops being trusted). Re-reads are at most one per
``min_refresh_interval``: a flood of tokens with made-up kids costs one fetch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
from jwt.exceptions import PyJWTError

from shared.errors import GovitError

log = logging.getLogger(__name__)

# Which signature algorithms each asymmetric key can verify (RFC 7518, RFC 8037).
# ``oct`` (HMAC) keys are absent on purpose: a verifier never holds a shared secret.
_EC_CURVES = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}
_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_OKP_CURVES = frozenset({"Ed25519", "Ed448"})
ASYMMETRIC_ALGORITHMS = frozenset({*_EC_CURVES.values(), *_RSA_ALGORITHMS, "EdDSA"})

# Members that only a private (or symmetric) key has: such a key is never published.
_SECRET_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

JwksLoader = Callable[[], Awaitable[Any]]


def _compatible_algorithms(jwk: Mapping[str, Any]) -> frozenset[str]:
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "EC" and isinstance(crv, str) and crv in _EC_CURVES:
        return frozenset({_EC_CURVES[crv]})
    if kty == "RSA":
        return _RSA_ALGORITHMS
    if kty == "OKP" and crv in _OKP_CURVES:
        return frozenset({"EdDSA"})
    return frozenset()


@dataclass(eq=False)
class VerificationKey:
    """One public key; ``algorithms`` are those its type (and its ``alg``, if any) allow."""

    kid: str | None
    jwk: Mapping[str, Any]
    algorithms: frozenset[str]
    _by_algorithm: dict[str, jwt.PyJWK] = field(default_factory=dict, repr=False)

    def for_algorithm(self, alg: str) -> jwt.PyJWK | None:
        """The key bound to ``alg``, or None when this key cannot verify ``alg``."""
        if alg not in self.algorithms:
            return None
        if alg not in self._by_algorithm:
            self._by_algorithm[alg] = jwt.PyJWK(dict(self.jwk), algorithm=alg)
        return self._by_algorithm[alg]


def parse_jwks(document: Any) -> list[VerificationKey]:
    """The usable asymmetric signing keys of a JWKS document; others are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (an object with a 'keys' list)")
    keys: list[VerificationKey] = []
    for jwk in document["keys"]:
        key = _usable_key(jwk)
        if key is None:
            continue
        if key.kid is not None and any(k.kid == key.kid for k in keys):
            log.warning("JWKS lists kid %r twice; the first one is used", key.kid)
            continue
        keys.append(key)
    return keys


def _usable_key(jwk: Any) -> VerificationKey | None:
    if not isinstance(jwk, dict):
        return None
    kid = jwk.get("kid")
    algorithms = _compatible_algorithms(jwk)
    if "alg" in jwk:  # a key pinned to one algorithm verifies only that one
        algorithms = algorithms & {jwk["alg"]} if isinstance(jwk["alg"], str) else frozenset()
    reason = None
    if not algorithms:
        reason = "not an asymmetric signing key of a supported type"
    elif _SECRET_MEMBERS & jwk.keys():
        reason = "carries private key material"
    elif jwk.get("use", "sig") != "sig" or "verify" not in jwk.get("key_ops", ["verify"]):
        reason = "not meant for signature verification"
    elif kid is not None and not isinstance(kid, str):
        reason = "kid is not a string"
    if reason is None:
        key = VerificationKey(kid, jwk, algorithms)
        try:
            pyjwk = key.for_algorithm(min(algorithms))
            assert pyjwk is not None
            # PyJWT only warns about short keys (RSA < 2048 bits); refuse them here.
            reason = pyjwk.Algorithm.check_key_length(pyjwk.key)
        except (PyJWTError, ValueError, TypeError) as exc:
            reason = f"unreadable: {exc}"
    if reason is not None:
        log.warning("JWKS key %r skipped: %s", kid, reason)
        return None
    return key


def file_loader(path: Path) -> JwksLoader:
    async def load() -> Any:
        return json.loads(await asyncio.to_thread(path.read_bytes))

    return load


class HttpLoader:
    """Fetches the JWKS from the identity platform; ``client`` is injectable for tests."""

    def __init__(self, url: str, client: httpx.AsyncClient | None = None, timeout: float = 5.0):
        self.url = url
        self._client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._owns_client = client is None

    async def __call__(self) -> Any:
        response = await self._client.get(self.url, headers={"Accept": "application/json"})
        response.raise_for_status()
        return response.json()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


class KeySource(Protocol):
    async def get_key(self, kid: str | None) -> VerificationKey | None: ...

    async def aclose(self) -> None: ...


class JwksKeySource:
    """A cached JWKS. A token without ``kid`` is accepted only when the set holds one key."""

    def __init__(
        self,
        loader: JwksLoader,
        *,
        min_refresh_interval: float = 10.0,
        max_age: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._loader = loader
        self.min_refresh_interval = min_refresh_interval
        self.max_age = max_age
        self._clock = clock
        self._on_close = on_close
        self._keys: list[VerificationKey] | None = None
        self._loaded_at = -math.inf
        self._attempted_at = -math.inf
        self._generation = 0
        self._lock = asyncio.Lock()

    @classmethod
    def from_file(cls, path: Path, **kwargs: Any) -> JwksKeySource:
        return cls(file_loader(path), **kwargs)

    @classmethod
    def from_url(
        cls, url: str, client: httpx.AsyncClient | None = None, **kwargs: Any
    ) -> JwksKeySource:
        loader = HttpLoader(url, client)
        return cls(loader, on_close=loader.aclose, **kwargs)

    async def get_key(self, kid: str | None) -> VerificationKey | None:
        if self._keys is None or self._clock() - self._loaded_at >= self.max_age:
            await self._refresh(self._generation)
        key = self._find(kid)
        if key is None and kid is not None:  # perhaps the platform rotated its keys
            await self._refresh(self._generation)
            key = self._find(kid)
        return key

    async def aclose(self) -> None:
        if self._on_close is not None:
            await self._on_close()

    def _find(self, kid: str | None) -> VerificationKey | None:
        if self._keys is None:
            raise GovitError(
                503,
                "auth_keys_unavailable",
                "token signing keys cannot be loaded right now",
                headers={"Retry-After": str(max(1, math.ceil(self.min_refresh_interval)))},
            )
        if kid is None:
            return self._keys[0] if len(self._keys) == 1 else None
        return next((k for k in self._keys if k.kid == kid), None)

    async def _refresh(self, seen_generation: int) -> None:
        async with self._lock:
            if self._generation != seen_generation:
                return  # another request refreshed while this one waited
            now = self._clock()
            if now - self._attempted_at < self.min_refresh_interval:
                return
            self._attempted_at = now
            try:
                keys = parse_jwks(await self._loader())
            except (OSError, ValueError, RecursionError, httpx.HTTPError) as exc:
                # Keep trusting the keys already held: an outage must not log everyone out.
                log.warning("JWKS refresh failed: %s", exc)
                return
            self._keys, self._loaded_at = keys, now
            self._generation += 1
