"""Development token minting: ``python -m shared.auth.cli token --role unit ...``.

Signs with the development key (created on first use) so that services running
with default settings accept the token. A service account's token carries the
scopes the identity platform issues to that ``sub`` (``shared.auth.scopes``) unless
``--scope`` says otherwise: ``--sub platform:gov-cloud`` gets ``registry:cloud:write``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from shared.auth.keys import ensure_dev_keys, mint_token
from shared.auth.principal import Role
from shared.auth.scopes import CLIENT_SCOPES
from shared.settings import GovitSettings


def _roles(value: str) -> list[str]:
    roles = [r.strip() for r in value.split(",") if r.strip()]
    known = {r.value for r in Role}
    for role in roles:
        if role not in known:
            raise argparse.ArgumentTypeError(f"unknown role {role!r}; known: {sorted(known)}")
    return roles


NO_UNIT = "00000000-0000-0000-0000-000000000000"


def _scopes(sub: str, given: list[str] | None) -> list[str]:
    if given is None:
        return sorted(CLIENT_SCOPES.get(sub, ()))
    return sorted({s for value in given for s in value.replace(",", " ").split()})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.auth.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print a development JWT")
    token.add_argument(
        "--role",
        type=_roles,
        action="append",
        required=True,
        help="comma-separated roles (repeatable): " + ",".join(r.value for r in Role),
    )
    token.add_argument(
        "--org",
        default=NO_UNIT,
        help="the caller's unit id (default: the nil UUID, no unit: an admin's first token)",
    )
    token.add_argument("--jurisdiction", required=True, help="policy profile id, e.g. jincheng")
    token.add_argument("--sub", default=None, help="subject (default: dev-<first role>)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.add_argument(
        "--scope",
        action="append",
        default=None,
        help="OAuth 2 scopes, space- or comma-separated (repeatable); default: those "
        "the identity platform issues to --sub (platform:gov-cloud: registry:cloud:write)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = GovitSettings()
    if settings.environment == "production":
        print("refused: development tokens are not for production", file=sys.stderr)
        return 2
    roles = [r for group in args.role for r in group]
    if not roles:
        print("at least one role is needed", file=sys.stderr)
        return 2
    keys = ensure_dev_keys(settings.dev_keys_dir)
    sub = args.sub or f"dev-{roles[0]}"
    print(
        mint_token(
            keys.private_key,
            keys.kid,
            sub=sub,
            org=args.org,
            jurisdiction=args.jurisdiction,
            roles=roles,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=args.ttl,
            scopes=_scopes(sub, args.scope),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
