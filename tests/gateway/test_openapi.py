"""The merged OpenAPI document: valid, every service's paths under its tag, clashes resolved."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from gateway.openapi import merge
from gateway.routes import RouteTable
from gateway.settings import SERVICES
from shared.settings import GovitSettings
from tests.gateway.conftest import SettingsFactory
from tests.gateway.support import Upstream, running_gateway

VALIDATION = {
    "HTTPValidationError": {
        "type": "object",
        "properties": {
            "detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}
        },
    },
    "ValidationError": {"type": "object", "properties": {"msg": {"type": "string"}}},
}


def operation(ref: str | None = None, tags: list[str] | None = None) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": ref} if ref else {"type": "object"}}}
    op: dict[str, Any] = {"responses": {"200": {"description": "OK", "content": content}}}
    if tags:
        op["tags"] = tags
    return op


def document(service: str, paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    for path, item in paths.items():
        names = re.findall(r"{([^}]+)}", path)
        for op in item.values():
            op["parameters"] = [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n in names
            ]
    return {
        "openapi": "3.1.0",
        "info": {"title": f"govit {service}", "version": "1.0.0"},
        "paths": paths,
        "components": {"schemas": {**VALIDATION, **schemas}},
    }


def synthetic_documents() -> dict[str, dict[str, Any]]:
    problem_a = {"type": "object", "properties": {"code": {"type": "string"}}}
    problem_b = {"type": "object", "properties": {"code": {"type": "integer"}}}
    wrapper = {
        "type": "object",
        "properties": {"problem": {"$ref": "#/components/schemas/Problem"}},
    }
    return {
        "registry": document(
            "registry",
            {
                "/api/v1/systems": {"get": operation(tags=["systems"])},
                "/api/v1/systems/{system_id}": {
                    "get": operation("#/components/schemas/Problem"),
                    "patch": operation(),
                },
                "/api/v1/systems:import": {"post": operation()},
                "/internal/debug": {"get": operation()},  # not routed: left out
            },
            {"Problem": problem_a, "Wrapper": wrapper},
        ),
        "approval": document(
            "approval",
            {"/api/v1/projects/{project_id}": {"get": operation("#/components/schemas/Wrapper")}},
            {
                "Problem": problem_b,  # same name, other shape: renamed
                "Wrapper": wrapper,  # same text, but its Problem is another: renamed too
            },
        ),
        "filing": document(
            "filing",
            {
                "/api/v1/filings": {"post": operation()},
                "/api/v1/calendar/workdays": {"get": operation()},
            },
            {"Problem": problem_a},  # same shape: shared
        ),
        "funding": document(
            "funding", {"/api/v1/funding/projects/{project_id}": {"get": operation()}}, {}
        ),
        "evaluation": document(
            "evaluation",
            {"/api/v1/evaluations/{evaluation_id}/questionnaire-answers": {"post": operation()}},
            {},
        ),
    }


def test_merging_keeps_each_services_routed_paths_under_its_tag(
    make_settings: SettingsFactory,
) -> None:
    merged = merge(synthetic_documents(), RouteTable(make_settings()))
    validate(merged)
    assert set(merged["paths"]) == {
        "/api/v1/systems",
        "/api/v1/systems/{system_id}",
        "/api/v1/systems:import",
        "/api/v1/projects/{project_id}",
        "/api/v1/filings",
        "/api/v1/calendar/workdays",
        "/api/v1/funding/projects/{project_id}",
        "/api/v1/evaluations/{evaluation_id}/questionnaire-answers",
    }
    assert [t["name"] for t in merged["tags"]] == list(SERVICES)
    assert merged["paths"]["/api/v1/systems"]["get"]["tags"] == ["registry"]
    assert merged["paths"]["/api/v1/calendar/workdays"]["get"]["tags"] == ["filing"]
    assert merged["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert merged["security"] == [{"bearer": []}]


def test_a_clashing_component_is_renamed_and_its_references_follow(
    make_settings: SettingsFactory,
) -> None:
    merged = merge(synthetic_documents(), RouteTable(make_settings()))
    schemas = merged["components"]["schemas"]
    assert schemas["Problem"]["properties"]["code"]["type"] == "string"
    assert schemas["approval.Problem"]["properties"]["code"]["type"] == "integer"
    wrapper = schemas["approval.Wrapper"]
    assert wrapper["properties"]["problem"]["$ref"] == "#/components/schemas/approval.Problem"
    project = merged["paths"]["/api/v1/projects/{project_id}"]["get"]
    schema = project["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"] == "#/components/schemas/approval.Wrapper"
    assert schemas["Wrapper"]["properties"]["problem"]["$ref"] == "#/components/schemas/Problem"
    assert "filing.Problem" not in schemas  # identical definitions are shared
    assert "registry.HTTPValidationError" not in schemas


def test_the_anonymous_route_is_marked_as_needing_no_token(
    make_settings: SettingsFactory,
) -> None:
    merged = merge(synthetic_documents(), RouteTable(make_settings()))
    answers = merged["paths"]["/api/v1/evaluations/{evaluation_id}/questionnaire-answers"]
    assert answers["post"]["security"] == []
    assert "security" not in merged["paths"]["/api/v1/filings"]["post"]


async def test_openapi_json_merges_what_the_five_services_serve(
    gw: httpx.AsyncClient, services: dict[str, Upstream]
) -> None:
    for name, doc in synthetic_documents().items():
        services[name].state.openapi = doc
    response = await gw.get("/openapi.json")
    assert response.status_code == 200
    merged = response.json()
    validate(merged)
    assert "/api/v1/funding/projects/{project_id}" in merged["paths"]
    assert "x-govit-unavailable" not in merged


async def test_a_service_that_does_not_answer_is_left_out_and_named(
    gw: httpx.AsyncClient, services: dict[str, Upstream]
) -> None:
    for name, doc in synthetic_documents().items():
        if name != "funding":
            services[name].state.openapi = doc
    merged = (await gw.get("/openapi.json")).json()
    validate(merged)
    assert set(merged["x-govit-unavailable"]) == {"funding"}
    assert not any(p.startswith("/api/v1/funding") for p in merged["paths"])


async def test_docs_browse_the_merged_document(gw: httpx.AsyncClient) -> None:
    response = await gw.get("/docs")
    assert response.status_code == 200
    assert "/openapi.json" in response.text


def real_service_documents(tmp_path: Path, jwks_file: Path) -> dict[str, dict[str, Any]]:
    """Each service's own document, from its app factory (no database needed for it)."""
    documents = {}
    for name in SERVICES:
        try:
            module = importlib.import_module(f"services.{name}.app")
        except ModuleNotFoundError as exc:
            if exc.name == f"services.{name}.app":
                continue  # that service has no app yet
            raise
        settings_class = next(
            (
                v
                for v in vars(module).values()
                if isinstance(v, type) and issubclass(v, GovitSettings) and v is not GovitSettings
            ),
            GovitSettings,
        )
        settings = settings_class(environment="test", home=tmp_path, jwks_file=jwks_file)
        documents[name] = module.build_app(settings).openapi()
    return documents


async def test_the_real_services_documents_merge_into_a_valid_one_with_every_path(
    make_settings: SettingsFactory,
    services: dict[str, Upstream],
    tmp_path: Path,
    jwks_file: Path,
) -> None:
    documents = real_service_documents(tmp_path, jwks_file)
    if not documents:
        pytest.skip("no service has an app yet")
    for name, doc in documents.items():
        services[name].state.openapi = doc
    async with running_gateway(make_settings()) as gw:
        merged = (await gw.get("/openapi.json")).json()
    validate(merged)
    table = RouteTable(make_settings())
    for name, doc in documents.items():
        for path, item in doc.get("paths", {}).items():
            route = table.resolve(path)
            assert route is not None and route.service == name, f"{name} serves {path}"
            assert path in merged["paths"], path
            for method in item:
                if method in ("get", "post", "put", "patch", "delete"):
                    assert merged["paths"][path][method]["tags"] == [name]


async def test_every_routed_operation_documents_what_the_gateway_itself_answers(
    make_settings: SettingsFactory,
    services: dict[str, Upstream],
    tmp_path: Path,
    jwks_file: Path,
) -> None:
    """414, 429, 502 and 504 come from the gateway, not the service: the merged
    document says so on every operation, as problem+json."""
    for name, doc in real_service_documents(tmp_path, jwks_file).items():
        services[name].state.openapi = doc
    async with running_gateway(make_settings()) as gw:
        merged = (await gw.get("/openapi.json")).json()
    validate(merged)
    operations = [
        operation
        for item in merged["paths"].values()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert operations
    for operation in operations:
        for status in ("414", "429", "502", "504"):
            content = operation["responses"][status]["content"]
            assert content["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }
    assert "Retry-After" in operations[0]["responses"]["429"]["headers"]
    assert "Problem" in merged["components"]["schemas"]
