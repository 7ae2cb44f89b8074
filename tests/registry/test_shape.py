"""The registry's shape (docs/services.md): errors declared once, refusals cited, one
shape per thing sent out (event payloads against their JSON Schema files)."""

from __future__ import annotations

import ast
import itertools
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

import services.registry
from services.registry import domain, errors, views
from services.registry.models import Resource, System, Unit
from services.registry.schemas import ComplianceOut, ResourceOut, SystemOut, UnitOut
from services.registry.spreadsheets import COLUMNS
from shared.codes import Code, described
from shared.errors import Violation
from shared.events.schemas import SCHEMA_DIR, validator_for
from tests.registry.conftest import Actors, create_system
from tests.registry.test_import_export import csv_file, row, upload
from tests.support.checks import problem

STATUSES = domain.LIFECYCLE


def test_every_error_code_is_declared_once_with_one_status() -> None:
    codes = [c.code for c in errors.CODES]
    assert len(codes) == len(set(codes)), "a code declared twice"
    assert {"unit_name_taken", "system_retired", "status_transition_invalid"} <= set(codes)
    for code in errors.CODES:
        assert isinstance(code, Code) and 400 <= code.status < 600 and code.meaning


def test_described_names_each_code_under_its_status() -> None:
    text = described(errors.SYSTEM_RETIRED, errors.FORBIDDEN, also=[{409: "More."}])
    assert list(text) == [403, 409]
    assert text[409].startswith("`system_retired`: ") and text[409].endswith(". More.")


@pytest.mark.parametrize(("current", "new"), list(itertools.product(STATUSES, STATUSES)))
def test_a_lifecycle_refusal_is_a_violation_citing_the_registrys_own_rule(
    current: domain.Status, new: domain.Status
) -> None:
    violation = domain.lifecycle_violation(current, new)
    if domain.transition_allowed(current, new):
        assert violation is None
        return
    assert violation is not None
    # No regulation article governs the lifecycle: the rule says it is the registry's.
    expected = domain.RETIRED_FINAL if current == "retired" else domain.LIFECYCLE_FORWARD
    assert violation.rule == expected and violation.rule.startswith("registry:")
    assert violation.message_zh and violation.message_en
    refused = errors.lifecycle_refused(current, violation)
    assert refused.status == 409
    code = "system_retired" if current == "retired" else "status_transition_invalid"
    assert refused.code == code
    assert refused.problem()["violations"] == [violation.as_dict()]


# --- one shape per thing sent out: events against their JSON Schema files ------------------


def stored_row(**overrides: Any) -> dict[str, Any]:
    """A ``systems`` row as the repository reads it (a Core row mapping)."""
    now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "org_id": uuid.uuid4(),
        "jurisdiction": "linfen-water",
        "name": "水资源管理系统",
        "status": "operating",
        "network": "extranet",
        "cloud": "exempt",
        "cloud_exempt_reason": "涉密",
        "private_network_approval": None,
        "sharing_connected": True,
        "mlps_level": 3,
        "crypto_assessed": False,
        "asset_registered": True,
        "resource_count": 2,
        "shared_resource_count": 1,
        "version": 4,
        "created_at": now,
        "updated_at": now,
    }
    return {**row, **overrides}


def schema_of(event_type: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text("utf-8"))
    return schema


def assert_matches_its_schema(event_type: str, payload: dict[str, Any]) -> None:
    errors = [e.message for e in validator_for(event_type).iter_errors(payload)]
    assert errors == [], f"{event_type}: {errors}"
    # Both ways: every field the schema requires is sent, and nothing it does not name.
    assert set(payload) == set(schema_of(event_type)["required"])


ROWS = [
    stored_row(),
    stored_row(status="planned", network="private", private_network_approval="临水信函〔2023〕5号"),
    stored_row(status="retired", cloud="on_cloud", cloud_exempt_reason=None, mlps_level=None),
    stored_row(cloud="migrating", cloud_exempt_reason=None, resource_count=0, version=1),
]


@pytest.mark.parametrize("row", ROWS)
def test_a_system_event_payload_is_the_shape_its_schema_file_fixes(row: dict[str, Any]) -> None:
    assert_matches_its_schema("govit.registry.system.registered", views.system_payload(row))
    updated = views.system_payload(row, changed={"status": {}, "name": {}})
    assert updated["changed"] == ["name", "status"]
    assert_matches_its_schema("govit.registry.system.updated", updated)


def test_an_orm_system_gives_the_payload_its_core_row_gives() -> None:
    row = stored_row()
    assert views.system_payload(System(**row)) == views.system_payload(row)


@pytest.mark.parametrize("parent", [None, uuid.uuid4()])
def test_a_unit_event_payload_is_the_shape_its_schema_file_fixes(parent: uuid.UUID | None) -> None:
    unit = Unit(id=uuid.uuid4(), name="临汾市水利局", jurisdiction="linfen-water", parent_id=parent)
    assert_matches_its_schema("govit.registry.unit.registered", views.unit_payload(unit))


# --- and answers against the models the OpenAPI document shows ------------------------------


def assert_is_documented_as(model: type[BaseModel], out: dict[str, Any]) -> None:
    assert set(out) == set(model.model_fields), "an answer field the document does not show"
    model.model_validate(out)


@pytest.mark.parametrize("row", ROWS)
def test_the_answers_are_the_shapes_the_document_shows(row: dict[str, Any]) -> None:
    assert_is_documented_as(SystemOut, views.system_out(row))
    violations = [Violation("linfen-water:11", "中", "en")]
    assert_is_documented_as(ComplianceOut, views.compliance_out(row, violations))
    unit = Unit(
        id=row["org_id"],
        name="临汾市水利局",
        jurisdiction="linfen-water",
        parent_id=None,
        created_at=row["created_at"],
    )
    assert_is_documented_as(UnitOut, views.unit_out(unit))
    resource = Resource(
        id=uuid.uuid4(),
        system_id=row["id"],
        name="水位监测数据",
        source="水文站",
        format="JSON",
        update_frequency="每小时",
        share_type="conditional",
        open_type="none",
        created_at=row["created_at"],
    )
    assert_is_documented_as(ResourceOut, views.resource_out(resource))


# --- codes are declared in errors.py, not spelled where they are raised --------------------

REGISTRY = Path(services.registry.__file__).parent
RAISING_MODULES = (
    "api.py",
    "service.py",
    "imports.py",
    "import_worker.py",
    "spreadsheets.py",
    "repository.py",
    "views.py",
    "domain.py",
)
# Built in shared.errors with a code inside: each call site spells one.
_CODE_TAKING = {"GovitError", "conflict", "rule_refusal", "unauthorized"}


def _called_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


@pytest.mark.parametrize("module", RAISING_MODULES)
def test_no_error_code_is_spelled_outside_errors_py(module: str) -> None:
    tree = ast.parse((REGISTRY / module).read_text(encoding="utf-8"))
    spelled = [
        f"{module}:{node.lineno} {_called_name(node)}(...)"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _called_name(node) in _CODE_TAKING
    ]
    assert spelled == [], "raise through services/registry/errors.py instead"


# --- the lifecycle refusal on the wire: its rule rides along -------------------------------


async def test_a_lifecycle_refusal_answers_its_rule(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, status="operating")
    path = f"/api/v1/systems/{system['id']}"
    back = problem(
        await client.patch(path, json={"status": "planned"}, headers=actors.a),
        409,
        "status_transition_invalid",
    )
    assert [v["rule"] for v in back["violations"]] == [domain.LIFECYCLE_FORWARD]
    assert (await client.patch(path, json={"status": "retired"}, headers=actors.a)).is_success
    resource = {
        "name": "水位监测数据",
        "source": "水文站",
        "format": "JSON",
        "update_frequency": "每小时",
        "share_type": "none",
        "open_type": "none",
    }
    for response in (
        await client.patch(path, json={"name": "新名"}, headers=actors.a),
        await client.post(f"{path}/resources", json=resource, headers=actors.a),
    ):
        retired = problem(response, 409, "system_retired")
        assert [v["rule"] for v in retired["violations"]] == [domain.RETIRED_FINAL]


async def test_an_import_row_the_lifecycle_refuses_names_the_rule(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, status="operating")
    rows = [{**row(actors.unit_a, status="planned"), "id": system["id"]}]
    response = await upload(client, actors.a, csv_file(rows, header=list(COLUMNS)))
    [error] = problem(response, 422, "import_invalid")["errors"]
    assert (error["row"], error["column"]) == (2, "status")
    assert error["message"].startswith(f"{domain.LIFECYCLE_FORWARD}: ")
    assert error["message_zh"].startswith(f"{domain.LIFECYCLE_FORWARD}：")
