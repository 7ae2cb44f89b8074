"""Token verification: every service (and the gateway) checks every token itself.

Each refusal is a 401 with a stable ``code`` (integrators switch on it). The
checks follow RFC 8725: an explicit asymmetric-only algorithm allow-list, the
header ``alg`` must suit the key it names, and claims are read only after the
signature holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import jwt
from jwt import exceptions as jwt_errors

from shared.auth.jwks import ASYMMETRIC_ALGORITHMS, JwksKeySource, KeySource
from shared.auth.keys import ensure_dev_keys
from shared.auth.memory import TokenMemory
from shared.auth.principal import Principal, Role
from shared.auth.scopes import parse_scope
from shared.errors import unauthorized
from shared.settings import GovitSettings

# Compact JWS: three base64url segments. Checked before PyJWT so odd input
# (non-ASCII, lone surrogates, megabytes) is refused cheaply and uniformly.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_\-]+=*\.[A-Za-z0-9_\-]+=*\.[A-Za-z0-9_\-]*=*")
MAX_TOKEN_LENGTH = 16 * 1024
_MAX_CLAIM_LENGTH = 256
_REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub", "org", "jurisdiction", "roles"]
_ROLE_NAMES = frozenset(r.value for r in Role)
# RFC 6749 §3.3: scope tokens are printable ASCII without space, '"' or '\\'.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*")
_MAX_SCOPE_LENGTH = 2048

# PyJWT's exception -> our code. Order matters: subclasses before their bases.
_ERROR_CODES: tuple[tuple[type[Exception], str], ...] = (
    (jwt_errors.InvalidSignatureError, "token_signature_invalid"),
    (jwt_errors.ExpiredSignatureError, "token_expired"),
    (jwt_errors.ImmatureSignatureError, "token_not_yet_valid"),
    (jwt_errors.InvalidAudienceError, "token_audience_invalid"),
    (jwt_errors.InvalidIssuerError, "token_issuer_invalid"),
    (jwt_errors.InvalidAlgorithmError, "token_algorithm_refused"),
    (jwt_errors.MissingRequiredClaimError, "token_claims_invalid"),
    (jwt_errors.InvalidSubjectError, "token_claims_invalid"),
    (jwt_errors.InvalidIssuedAtError, "token_claims_invalid"),
    (jwt_errors.InvalidJTIError, "token_claims_invalid"),
    (jwt_errors.InvalidKeyError, "token_key_unknown"),
)


class TokenVerifier:
    def __init__(
        self,
        key_source: KeySource,
        issuer: str,
        audience: str,
        algorithms: Iterable[str],
        leeway: float = 0,
        memory: TokenMemory | None = None,
    ) -> None:
        self.algorithms = frozenset(algorithms)
        refused = self.algorithms - ASYMMETRIC_ALGORITHMS
        if refused or not self.algorithms:
            # HMAC next to asymmetric algorithms is how public keys become HMAC secrets.
            raise ValueError(f"JWT algorithms must be asymmetric; refused: {sorted(refused)}")
        self.key_source = key_source
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        # Verified tokens remembered (bounded, never past ``exp``); None: verify each time.
        self.memory = memory if memory is not None and memory.enabled else None

    @classmethod
    def from_settings(cls, settings: GovitSettings, **source_options: Any) -> TokenVerifier:
        """``source_options`` go to ``JwksKeySource`` (e.g. ``min_refresh_interval``).

        ``GOVIT_TOKEN_CACHE_SECONDS``/``_SIZE`` set the memory of verified tokens.
        """
        source: KeySource
        if settings.jwks_url:
            source = JwksKeySource.from_url(settings.jwks_url, **source_options)
        else:
            jwks_file = settings.effective_jwks_file
            assert jwks_file is not None  # only None when a URL is set
            if settings.jwks_file is None and settings.environment != "production":
                ensure_dev_keys(settings.dev_keys_dir)  # so `make up` works from scratch
            source = JwksKeySource.from_file(jwks_file, **source_options)
        return cls(
            source,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            algorithms=settings.jwt_algorithms,
            leeway=settings.jwt_leeway_seconds,
            memory=TokenMemory(settings.token_cache_seconds, settings.token_cache_size),
        )

    async def aclose(self) -> None:
        await self.key_source.aclose()

    async def verify(self, token: str) -> Principal:
        if self.memory is not None and isinstance(token, str):
            remembered = self.memory.get(token)
            if remembered is not None:
                return remembered
        principal, exp = await self._verify(token)
        if self.memory is not None:
            self.memory.remember(token, principal, exp)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        """The principal and the token's ``exp``; a refusal raises a 401 ``GovitError``."""
        if not isinstance(token, str) or not token:
            raise unauthorized("token_missing", "a bearer token is required")
        if len(token) > MAX_TOKEN_LENGTH or not _COMPACT_JWS.fullmatch(token):
            raise unauthorized("token_malformed", "the token is not a compact JWS")
        try:
            header = jwt.get_unverified_header(token)
        except jwt_errors.PyJWTError as exc:
            raise unauthorized("token_malformed", f"unreadable token header: {exc}") from None

        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise unauthorized("token_algorithm_refused", f"algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        key = await self.key_source.get_key(kid)
        if key is None:
            raise unauthorized("token_key_unknown", f"no signing key with kid {kid!r}")
        try:
            pyjwk = key.for_algorithm(alg)
        except jwt_errors.PyJWTError as exc:
            raise unauthorized("token_key_unknown", f"key {kid!r} is unusable: {exc}") from None
        if pyjwk is None:
            raise unauthorized(
                "token_algorithm_refused", f"algorithm {alg} does not suit key {kid!r}"
            )

        claims = self._decode(token, pyjwk, alg)
        return _principal(claims), _expiry(claims)

    def _decode(self, token: str, key: jwt.PyJWK, alg: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": _REQUIRED_CLAIMS, "enforce_minimum_key_length": True},
            )
        except jwt_errors.PyJWTError as exc:
            code = next((c for t, c in _ERROR_CODES if isinstance(exc, t)), "token_malformed")
            raise unauthorized(code, str(exc)) from None
        return claims


def _principal(claims: dict[str, Any]) -> Principal:
    for name in ("sub", "org", "jurisdiction"):
        value = claims[name]
        if not isinstance(value, str) or not value or len(value) > _MAX_CLAIM_LENGTH:
            raise unauthorized("token_claims_invalid", f"claim {name!r} must be a non-empty string")
    roles = claims["roles"]
    if not _is_role_list(roles):
        raise unauthorized(
            "token_claims_invalid", f"claim 'roles' must list known roles: {sorted(_ROLE_NAMES)}"
        )
    return Principal(
        sub=claims["sub"],
        org=claims["org"],
        jurisdiction=claims["jurisdiction"],
        roles=frozenset(Role(r) for r in roles),
        scopes=_scopes(claims.get("scope")),
    )


def _scopes(value: Any) -> frozenset[str]:
    """The ``scope`` claim (RFC 8693 §4.2): absent, or a space-separated string."""
    if value is None:
        return frozenset()
    if not isinstance(value, str) or len(value) > _MAX_SCOPE_LENGTH or not _SCOPE.fullmatch(value):
        raise unauthorized(
            "token_claims_invalid", "claim 'scope' must be space-separated scope tokens"
        )
    return parse_scope(value)


def _expiry(claims: dict[str, Any]) -> float:
    # PyJWT has checked ``exp`` is a number (and not past, with the leeway).
    return float(claims["exp"])


def _is_role_list(roles: Any) -> bool:
    return (
        isinstance(roles, Sequence)
        and not isinstance(roles, str)
        and len(roles) > 0
        and all(isinstance(r, str) and r in _ROLE_NAMES for r in roles)
    )
