"""JWT authentication: verify tokens from a JWKS, turn them into a ``Principal``;
the suite's object-level access rule (``access``; its SQL form in ``access_sql``)."""

from shared.auth.access import OVERSIGHT_ROLES, Level, Ownership, allows
from shared.auth.dependencies import (
    CurrentPrincipal,
    bearer_token,
    current_principal,
    require_roles,
)
from shared.auth.home import HomeJurisdictions, caller_check
from shared.auth.jwks import JwksKeySource, KeySource, VerificationKey, parse_jwks
from shared.auth.keys import DevKeys, ensure_dev_keys, jwk_thumbprint, mint_token
from shared.auth.memory import TokenMemory
from shared.auth.principal import Principal, Role
from shared.auth.verify import TokenVerifier

__all__ = [
    "OVERSIGHT_ROLES",
    "CurrentPrincipal",
    "DevKeys",
    "HomeJurisdictions",
    "JwksKeySource",
    "KeySource",
    "Level",
    "Ownership",
    "Principal",
    "Role",
    "TokenMemory",
    "TokenVerifier",
    "VerificationKey",
    "allows",
    "bearer_token",
    "caller_check",
    "current_principal",
    "ensure_dev_keys",
    "jwk_thumbprint",
    "mint_token",
    "parse_jwks",
    "require_roles",
]
