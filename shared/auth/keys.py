"""Development signing keys and token minting.

Production tokens come from the government identity platform; in development the
suite signs its own with an ES256 key kept under ``GovitSettings.dev_keys_dir``.
Only the public half is published (``jwks.json``), which is what verifiers read.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import AllowedPrivateKeys, ECAlgorithm

PRIVATE_KEY_FILE = "signing-key.pem"
JWKS_FILE = "jwks.json"

# RFC 7638 §3.2: the members hashed for each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}


@dataclass(frozen=True, slots=True)
class DevKeys:
    private_key: ec.EllipticCurvePrivateKey
    kid: str
    private_key_file: Path
    jwks_file: Path
    algorithm: str = "ES256"


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url without padding: a stable ``kid``."""
    members = _THUMBPRINT_MEMBERS[str(jwk["kty"])]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_jwk(private_key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The public JWK for an ES256 key, with its thumbprint as ``kid``."""
    jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    jwk = {m: jwk[m] for m in _THUMBPRINT_MEMBERS["EC"]}
    return {**jwk, "kid": jwk_thumbprint(jwk), "use": "sig", "alg": "ES256"}


def ensure_dev_keys(directory: Path) -> DevKeys:
    """Create the development key pair on first use; reuse it afterwards.

    Several processes start at once under the Procfile, so the key file is
    published with ``os.link`` (atomic, fails if present): exactly one key wins.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_file = directory / PRIVATE_KEY_FILE
    if not key_file.exists():
        _publish_new_key(key_file)
    loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp256r1":
        raise ValueError(f"{key_file} is not a P-256 private key")

    jwk = public_jwk(loaded)
    jwks_file = directory / JWKS_FILE
    document = json.dumps({"keys": [jwk]}, indent=2) + "\n"
    if not jwks_file.exists() or jwks_file.read_text() != document:
        _atomic_write(jwks_file, document.encode(), mode=0o644)
    return DevKeys(loaded, jwk["kid"], key_file, jwks_file)


def mint_token(
    private_key: AllowedPrivateKeys,
    kid: str,
    *,
    sub: str,
    org: str,
    jurisdiction: str,
    roles: Iterable[str],
    issuer: str,
    audience: str,
    ttl_seconds: int = 3600,
    scopes: Iterable[str] = (),
    now: float | None = None,
    extra: Mapping[str, Any] | None = None,
    algorithm: str = "ES256",
) -> str:
    """Sign a govit token. ``scopes`` become the ``scope`` claim (space-separated, RFC
    8693 §4.2; absent when empty). ``extra`` claims are added last (and may override)."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "org": org,
        "jurisdiction": jurisdiction,
        "roles": sorted({str(r) for r in roles}),
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    if scope := " ".join(sorted({str(s) for s in scopes})):
        claims["scope"] = scope
    claims.update(extra or {})
    return jwt.encode(claims, private_key, algorithm=algorithm, headers={"kid": kid})


def _publish_new_key(key_file: Path) -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd, tmp = tempfile.mkstemp(dir=key_file.parent, prefix=".key-")  # created 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race
            os.link(tmp, key_file)
    finally:
        os.unlink(tmp)


def _atomic_write(path: Path, data: bytes, *, mode: int) -> None:
    # Readers (verifiers polling the JWKS) never see a half-written file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".jwks-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
