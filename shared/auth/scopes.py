"""OAuth 2 scopes the identity platform issues to govit's clients.

Roles say what kind of caller a token belongs to; a scope says what one client of
that role may do beyond its role. Both platforms hold role ``platform``; only the
government cloud platform is issued ``registry:cloud:write``, which is what lets it
report a system's cloud migration state (docs/gateway.md, "Platform clients").
"""

from __future__ import annotations

from collections.abc import Mapping

# The government cloud platform reports migration state (a system's ``cloud``).
REGISTRY_CLOUD_WRITE = "registry:cloud:write"

# What the identity platform is configured to issue to each service account, by
# ``sub``. ``make token`` mints development tokens from it, so a development token
# carries exactly the scopes the real client would get.
CLIENT_SCOPES: Mapping[str, frozenset[str]] = {
    "platform:gov-cloud": frozenset({REGISTRY_CLOUD_WRITE}),
    "platform:online-services": frozenset(),
}


def parse_scope(value: str) -> frozenset[str]:
    """RFC 6749 §3.3 / RFC 8693 §4.2: space-separated scope tokens."""
    return frozenset(value.split())
