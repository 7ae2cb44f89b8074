"""JWT authentication: verify tokens from a JWKS, turn them into a ``Principal``."""

from shared.auth.dependencies import (
    CurrentPrincipal,
    bearer_token,
    current_principal,
    require_roles,
)
from shared.auth.jwks import JwksKeySource, KeySource, VerificationKey, parse_jwks
from shared.auth.keys import DevKeys, ensure_dev_keys, jwk_thumbprint, mint_token
from shared.auth.principal import Principal, Role
from shared.auth.verify import TokenVerifier

__all__ = [
    "CurrentPrincipal",
    "DevKeys",
    "JwksKeySource",
    "KeySource",
    "Principal",
    "Role",
    "TokenVerifier",
    "VerificationKey",
    "bearer_token",
    "current_principal",
    "ensure_dev_keys",
    "jwk_thumbprint",
    "mint_token",
    "parse_jwks",
    "require_roles",
]
