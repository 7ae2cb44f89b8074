"""REST: the gateway's merged OpenAPI still holds every path, method, query parameter
and field API.md names, so the public contract cannot drift silently.

The merged document is built as the gateway builds it (``gateway.openapi.merge``
over each service's own document, kept to the paths the gateway routes to it).
What is not built yet is listed, with its reason, in ``tests/contract/waiting.py``
(whole services) and in ``NOT_YET`` below (single operations or fields); each entry
is asserted to be still missing, so the lists shrink as the work lands.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from functools import cache
from typing import Any

from deploy.local.stack import SERVICES
from gateway.openapi import HTTP_METHODS, merge
from gateway.routes import PREFIXES, RouteTable
from gateway.settings import GatewaySettings
from tests.contract import api_md
from tests.contract.waiting import GATEWAY_UNROUTED, WAITING_ROUTES, served_paths

# Placeholders API.md writes inside shapes, not field names: `{field: {before,
# after}}`, `{holidays: [dates]}`, `[evaluation ids]`, `{dimension: number}`.
PLACEHOLDERS = {"field", "dates", "evaluation", "ids", "dimension", "number"}

# Backticked words of a bullet that are prose about something else, not its fields.
PROSE = {
    ("POST", "/api/v1/units", "org"): "'A token's `org` is a unit id' speaks of the token",
    ("POST", "/api/v1/filings/{id}/review", "requested_until"): "a field of the reviewed "
    "acceptance_delay filing (POST /api/v1/filings), not of the review",
    ("POST", "/api/v1/acceptances", "acceptance"): "'The unit's `acceptance` filing meets it' "
    "names a filing type, not a field",
}

# (METHOD, path as API.md writes it) or (METHOD, path, field) -> why it is missing.
NOT_YET: dict[tuple[str, ...], str] = {}


@cache
def merged() -> dict[str, Any]:
    documents = {}
    for service in SERVICES:
        module = importlib.import_module(f"services.{service}.app")
        documents[service] = module.build_app().openapi()
    return merge(documents, RouteTable(GatewaySettings()))


def operation_of(method: str, path: str) -> dict[str, Any] | None:
    want = api_md.normalized(path)
    for served, item in merged()["paths"].items():
        if api_md.normalized(served) == want:
            found = item.get(method.lower())
            return found if isinstance(found, dict) else None
    return None


def _resolve(node: Any, seen: set[str]) -> Iterator[Any]:
    """Every schema node under ``node``, following ``$ref``s once each."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/") and ref not in seen:
            seen.add(ref)
            target: Any = merged()
            for part in ref[2:].split("/"):
                target = target.get(part, {})
            yield from _resolve(target, seen)
        yield node
        for value in node.values():
            yield from _resolve(value, seen)
    elif isinstance(node, list):
        for value in node:
            yield from _resolve(value, seen)


def known_names(operation: dict[str, Any]) -> set[str]:
    """Parameter names, property names and enum values anywhere in the operation's
    request and answers (problem bodies included), references followed."""
    names = set()
    for node in _resolve(operation, set()):
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("properties"), dict):
            names |= set(node["properties"])
        if isinstance(node.get("enum"), list):
            names |= {str(v) for v in node["enum"]}
        if "const" in node:
            names.add(str(node["const"]))
        if node.get("in") in ("query", "path") and isinstance(node.get("name"), str):
            names.add(node["name"])
    return names


def query_names(operation: dict[str, Any]) -> set[str]:
    return {
        p["name"]
        for p in operation.get("parameters", [])
        if isinstance(p, dict) and p.get("in") == "query"
    }


def owner(path: str) -> str:
    service = api_md.owner(path, {})
    assert service in SERVICES, f"API.md's owners table gives no service for {path}"
    return service


def prefix_of(path: str) -> str:
    return "/".join(path.split("/")[:4]).split(":")[0]


def expected_missing(method: str, path: str, field: str | None = None) -> str | None:
    """Why (METHOD path [field]) may be absent today, or None if it must be there."""
    if owner(path) in WAITING_ROUTES:
        return WAITING_ROUTES[owner(path)]
    if prefix_of(path) in GATEWAY_UNROUTED:
        return GATEWAY_UNROUTED[prefix_of(path)]
    key = (method, path) if field is None else (method, path, field)
    return NOT_YET.get(key) or NOT_YET.get((method, path))


def test_api_md_parses_into_the_operations_it_names() -> None:
    ops = {str(op) for op in api_md.operations()}
    # a sample from each section, so a change of API.md's layout cannot empty the test
    for expected in (
        "POST /api/v1/systems:import",
        "GET /api/v1/systems/{id}/compliance",
        "POST /api/v1/projects/{id}/changes/{change_id}/decision",
        "PUT /api/v1/calendar/{year}",
        "GET /api/v1/funding/projects/{project_id}/what-if",
        "POST /api/v1/evaluations:spot-check",
    ):
        assert expected in ops
    assert len(ops) >= 50
    import_bullet = next(
        b for b in api_md.bullets() if any(o.path == "/api/v1/systems:import" for o in b.operations)
    )
    assert {"imported", "state", "row"} <= import_bullet.names


def test_every_api_md_operation_is_in_the_merged_openapi() -> None:
    missing = []
    for op in api_md.operations():
        present = operation_of(op.method, op.path) is not None
        reason = expected_missing(op.method, op.path)
        if not present and reason is None:
            missing.append(str(op))
    assert not missing, f"API.md operations the merged OpenAPI lacks: {missing}"


def test_every_field_and_query_parameter_api_md_names_is_documented() -> None:
    missing = []
    for bullet in api_md.bullets():
        for op, query in bullet.query.items():
            operation = operation_of(op.method, op.path)
            if operation is None:
                continue  # the operation test above speaks for it
            for name in sorted(query - query_names(operation)):
                if expected_missing(op.method, op.path, name) is None:
                    missing.append(f"{op} ?{name}=")
        landed_ops = [op for op in bullet.operations if operation_of(op.method, op.path)]
        if not landed_ops:
            continue
        # A field of a bullet whose other operation is not served yet may be that one's.
        if any(
            expected_missing(o.method, o.path) for o in bullet.operations if o not in landed_ops
        ):
            continue
        known = set().union(
            *(known_names(operation_of(o.method, o.path) or {}) for o in landed_ops)
        )
        for name in sorted(bullet.names - PLACEHOLDERS - known):
            excused = [
                (o.method, o.path, name) in PROSE or expected_missing(o.method, o.path, name)
                for o in landed_ops
            ]
            if not any(excused):
                missing.append(f"{' / '.join(map(str, landed_ops))}: `{name}`")
    assert not missing, "fields API.md names that the merged OpenAPI lacks:\n" + "\n".join(missing)


def test_a_waiting_service_serves_no_api_md_route_yet() -> None:
    """A waiting service that serves an API.md route has landed: drop it from WAITING_ROUTES."""
    for service in WAITING_ROUTES:
        built = [
            str(op)
            for op in api_md.operations()
            if owner(op.path) == service and operation_of(op.method, op.path) is not None
        ]
        assert not built and not served_paths(service), (
            f"{service} has landed ({built or sorted(served_paths(service))}): remove it from "
            "tests/contract/waiting.WAITING_ROUTES so the contract and e2e suites cover it"
        )
    # and a service that serves no route at all must be listed
    for service in SERVICES:
        assert served_paths(service) or service in WAITING_ROUTES, service


def test_an_unrouted_prefix_is_still_unrouted() -> None:
    """Once the gateway routes it, drop it from GATEWAY_UNROUTED."""
    for prefix in GATEWAY_UNROUTED:
        assert prefix not in PREFIXES, f"the gateway routes {prefix} now: remove it from the list"
        assert owner(prefix) in SERVICES  # API.md does give it an owner


def test_every_prefix_api_md_gives_an_owner_is_routed_or_listed() -> None:
    prefixes = {prefix_of(op.path) for op in api_md.operations()}
    for prefix in sorted(prefixes):
        if prefix in GATEWAY_UNROUTED:
            continue
        assert PREFIXES.get(prefix) == owner(prefix), prefix


def test_not_yet_entries_are_still_missing() -> None:
    for key, reason in NOT_YET.items():
        method, path, *field = key
        operation = operation_of(method, path)
        if field:
            assert operation is None or field[0] not in known_names(operation), (key, reason)
        else:
            assert operation is None, f"{method} {path} is served now: drop it from NOT_YET"


def test_the_merged_document_tags_each_operation_with_its_owner() -> None:
    for path, item in merged()["paths"].items():
        for method in HTTP_METHODS:
            if isinstance(item.get(method), dict):
                assert item[method]["tags"] == [owner(path)], (method, path)
