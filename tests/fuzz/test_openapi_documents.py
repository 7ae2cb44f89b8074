"""Each service's OpenAPI document describes its errors as the problem+json they are.

Schemathesis checks the answers it provokes; these check what it cannot see: a
``$ref`` that points nowhere (schemathesis then validates nothing), statuses a
fuzz with valid tokens never provokes (401, 413), and that the ``Problem`` schema
accepts every shape the shared code really emits.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi.exceptions import RequestValidationError
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from deploy.local.stack import SERVICES
from gateway.ratelimit import rate_limited
from shared.body_limit import payload_too_large
from shared.errors import (
    PROBLEM_JSON,
    GovitError,
    Violation,
    conflict,
    forbidden,
    not_found,
    rule_refusal,
    unauthorized,
)
from shared.openapi import PROBLEM_SCHEMAS
from shared.problems import validation_error
from tests.fuzz.conftest import build_app

METHODS = {"get", "put", "post", "patch", "delete"}
PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_the_document_is_valid_and_every_error_is_problem_json(service: str) -> None:
    document = build_app(service).openapi()
    validate(document)  # also: every $ref resolves
    assert "HTTPValidationError" not in json.dumps(document)
    for label, operation in operations(document):
        responses = operation["responses"]
        for status, response in responses.items():
            if not status.startswith(("1", "2", "3")):
                assert response["content"] == PROBLEM, (label, status)
        assert "5XX" in responses, label
        if operation.get("security") == [{"bearer": []}]:
            assert "WWW-Authenticate" in responses["401"]["headers"], label
        if "requestBody" in operation:
            assert {"400", "413"} <= set(responses), label
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in responses, label


def test_registry_operations_require_the_bearer_token_they_check() -> None:
    document = build_app("registry").openapi()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for label, operation in operations(document):
        assert operation["security"] == [{"bearer": []}], label


def _problem_validator() -> Draft202012Validator:
    root = {"$ref": "#/components/schemas/Problem", "components": {"schemas": PROBLEM_SCHEMAS}}
    Draft202012Validator.check_schema(root)
    return Draft202012Validator(root)


def _validation_problem() -> GovitError:
    exc = RequestValidationError(
        [
            {"type": "missing", "loc": ("body", "name"), "msg": "Field required", "input": {}},
            {"type": "int_type", "loc": ("query", "limit"), "msg": "not an int", "input": "x"},
        ]
    )
    return validation_error(exc)


EMITTED = {
    "not_found": not_found("system", "42"),
    "forbidden": forbidden("not yours"),
    "unauthorized": unauthorized("token_invalid", "invalid token"),
    "conflict": conflict("system_retired", "retired", [Violation("jincheng:21", "中", "en")]),
    "rule_refusal": rule_refusal("entry_refused", "no", [Violation("leshan:3", "中", "en")]),
    "validation": _validation_problem(),
    "payload_too_large": payload_too_large(1024),
    "rate_limited": rate_limited(3, "10/second"),
    "import_errors": GovitError(
        422,
        "import_invalid",
        "2 problem(s)",
        extra={
            "errors": [{"row": 2, "column": "name", "message": "required"}],
            "error_count": 2,
        },
    ),
    "not_ready": GovitError(503, "not_ready", "down", extra={"checks": {"database": "ok"}}),
}


@pytest.mark.parametrize("name", sorted(EMITTED))
def test_the_problem_schema_accepts_what_the_shared_code_emits(name: str) -> None:
    body = EMITTED[name].problem(instance="/api/v1/systems/42")
    errors = [e.message for e in _problem_validator().iter_errors(body)]
    assert not errors, (name, errors)


def test_the_problem_schema_refuses_fastapis_default_shape() -> None:
    # FastAPI's own answer ({"detail": [...]}) is what the document used to promise.
    assert not _problem_validator().is_valid({"detail": [{"msg": "Field required"}]})


async def test_answers_from_outside_the_routes_match_the_problem_schema() -> None:
    """404 (no route), 405 (wrong method), 401 (no token) leave the app without a
    database; each is problem+json that the documented schema accepts."""
    app = build_app("registry")
    validator = _problem_validator()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://registry"
    ) as client:
        answers = [
            await client.get("/api/v1/nothing-here"),
            await client.delete("/api/v1/units"),
            await client.get("/api/v1/units"),
        ]
    assert [a.status_code for a in answers] == [404, 405, 401]
    for answer in answers:
        assert answer.headers["content-type"] == PROBLEM_JSON
        assert not [e.message for e in validator.iter_errors(answer.json())], answer.text


def _allows_null(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null" or any(_allows_null(s) for s in schema.get("anyOf", []))


def test_a_patch_offers_null_only_where_null_is_accepted() -> None:
    from pydantic import ValidationError

    from services.registry.schemas import SystemPatch

    schema = build_app("registry").openapi()["components"]["schemas"]["SystemPatch"]
    for name, definition in schema["properties"].items():
        if _allows_null(definition):
            SystemPatch.model_validate({name: None})  # must not raise
        else:
            with pytest.raises(ValidationError):
                SystemPatch.model_validate({name: None})


@pytest.mark.parametrize("service", SERVICES)
def test_every_request_example_matches_its_schema(service: str) -> None:
    document = build_app(service).openapi()
    for label, operation in operations(document):
        for media in operation.get("requestBody", {}).get("content", {}).values():
            if "example" in media:
                root = {**media["schema"], "components": document["components"]}
                errors = [
                    e.message for e in Draft202012Validator(root).iter_errors(media["example"])
                ]
                assert not errors, (label, errors)
