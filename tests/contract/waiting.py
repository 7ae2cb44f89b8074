"""What the cross-service suites are still waiting for: ONE list, asserted both ways.

Four services (approval, filing, funding, evaluation) are being built beside the
contract and e2e suites, and land in parts: event schemas first, routes later.
A service named in ``WAITING_SCHEMAS`` ships no event schema yet, so the event
contracts leave its events out; one named in ``WAITING_ROUTES`` serves no route
under ``/api/v1`` yet, so the REST contract leaves its operations out and the e2e
walk stops before its first step. The contract tests fail as soon as a listed
service ships what it is listed for (``test_a_waiting_service_serves_no_api_md_route_yet``,
``test_every_event_the_docs_name_has_a_schema_once_its_producer_landed``), so the
entry is removed and every suite covers it from then on: nothing stays skipped
silently.

``GATEWAY_UNROUTED`` lists the API.md prefixes the gateway does not route yet (the
gateway's prefix table, ``gateway/routes.PREFIXES``); it is asserted the same way.
"""

from __future__ import annotations

import importlib
from functools import cache

from deploy.local.stack import SERVICES
from shared.events.schemas import known_types

# service -> why the suites wait for it (remove the entry once it has landed)
WAITING_SCHEMAS: dict[str, str] = {}
WAITING_ROUTES: dict[str, str] = {}
# services whose app does not consume yet what docs/event-payloads.md says it does
WAITING_CONSUMERS: dict[str, str] = {}

# API.md prefixes the gateway has no route for (gateway/routes.PREFIXES): calls
# through the gateway answer 404 there until it routes them.
GATEWAY_UNROUTED: dict[str, str] = {}


@cache
def served_paths(service: str) -> frozenset[str]:
    """The ``/api/v1`` paths ``service``'s own OpenAPI document lists."""
    module = importlib.import_module(f"services.{service}.app")
    paths = module.build_app().openapi().get("paths", {})
    return frozenset(p for p in paths if p.startswith("/api/v1/"))


def schemas_of(service: str) -> list[str]:
    return [t for t in known_types() if t.startswith(f"govit.{service}.")]


def routes_landed() -> tuple[str, ...]:
    """The services whose API the contract and e2e suites hold to API.md."""
    return tuple(s for s in SERVICES if s not in WAITING_ROUTES)
