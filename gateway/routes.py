"""The prefix table of API.md ("Owners") and the per-route policies.

A path belongs to a prefix when it equals it or continues with ``/`` or ``:``
(``/api/v1/systems:import`` is the registry's, ``/api/v1/systemsx`` is nobody's).

Paths are the decoded ``scope["path"]`` (what the service will route on), and the
route patterns of the settings must match the whole of ``"<METHOD> <path>"``
(``re.fullmatch``): a pattern ending in ``$`` also matches before a trailing
newline, so ``.match`` let ``.../questionnaire-answers%0A`` through as anonymous
(CWE-625). A path with a control character belongs to no service at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.settings import GatewaySettings

PREFIXES: dict[str, str] = {
    "/api/v1/units": "registry",
    "/api/v1/systems": "registry",
    "/api/v1/resources": "registry",
    "/api/v1/imports": "registry",
    "/api/v1/projects": "approval",
    "/api/v1/filings": "filing",
    "/api/v1/acceptances": "filing",
    "/api/v1/obligations": "filing",
    "/api/v1/calendar": "filing",
    "/api/v1/funding": "funding",
    "/api/v1/disbursements": "funding",
    "/api/v1/allocation-plans": "funding",
    "/api/v1/evaluations": "evaluation",
    "/api/v1/rectifications": "evaluation",
    "/api/v1/assessments": "evaluation",
}
API_ROOT = "/api/v1/"

# "/api/v1/<first segment>" up to the first "/" or ":" after the root.
_HEAD = re.compile(r"(/api/v1/[^/:]+)(?:[/:]|\Z)")
_DOT_SEGMENT = re.compile(r"(?:^|/)\.{1,2}(?:/|\Z)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes: the owning service, its base URL and the matched prefix."""

    service: str
    base_url: str
    prefix: str


def _any_of(patterns: Iterable[str]) -> re.Pattern[str] | None:
    patterns = list(patterns)
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns))


class RouteTable:
    def __init__(self, settings: GatewaySettings, prefixes: Mapping[str, str] = PREFIXES) -> None:
        urls = settings.upstream_urls()
        self._routes = {
            prefix: Route(service, urls[service], prefix) for prefix, service in prefixes.items()
        }
        self._anonymous = _any_of(settings.anonymous_routes)
        self._imports = _any_of(settings.import_routes)
        self._timeouts = [(re.compile(p), t) for p, t in settings.route_timeouts.items()]
        self._default_timeout = settings.upstream_timeout_seconds
        self._max_body = settings.max_body_bytes
        self._max_import = settings.max_import_bytes

    def resolve(self, path: str) -> Route | None:
        """The route owning ``path``, or None (unknown prefix, a ``.``/``..`` segment,
        or a control character)."""
        match = _HEAD.match(path)
        if match is None or _DOT_SEGMENT.search(path) or _CONTROL.search(path):
            return None
        return self._routes.get(match.group(1))

    def prefixes_of(self, service: str) -> list[str]:
        return [r.prefix for r in self._routes.values() if r.service == service]

    def is_anonymous(self, method: str, path: str) -> bool:
        return self._anonymous is not None and bool(self._anonymous.fullmatch(f"{method} {path}"))

    def body_limit(self, method: str, path: str) -> int:
        if self._imports is not None and self._imports.fullmatch(f"{method} {path}"):
            return self._max_import
        return self._max_body

    def timeout(self, method: str, path: str) -> float:
        key = f"{method} {path}"
        for pattern, seconds in self._timeouts:
            if pattern.fullmatch(key):
                return seconds
        return self._default_timeout
