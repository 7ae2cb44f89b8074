"""Event contracts: every schema is valid JSON Schema with valid examples; every event
API.md and docs/event-payloads.md name has one once its producer has landed; what
each consumer reads stays required by its producer."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from deploy.local.stack import SERVICES
from shared.errors import GovitError
from shared.events.schemas import SCHEMA_DIR, known_types, validate_data
from tests.contract import api_md
from tests.contract.consumers import READS, REVIEWED, matches
from tests.contract.waiting import WAITING_SCHEMAS, schemas_of


def schema(event_type: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (SCHEMA_DIR / f"{event_type}.json").read_text(encoding="utf-8")
    )
    return loaded


def producer(event_type: str) -> str:
    return event_type.split(".")[1]


def test_every_schema_is_valid_json_schema_named_after_its_type() -> None:
    assert known_types(), "no schemas found"
    for event_type in known_types():
        Draft202012Validator.check_schema(schema(event_type))
        assert re.fullmatch(r"govit\.[a-z]+\.[a-z_]+\.[a-z_]+", event_type)
        assert schema(event_type)["$id"].endswith(f"/{event_type}.json")
        assert producer(event_type) in SERVICES, event_type


@pytest.mark.parametrize("event_type", known_types())
def test_every_schema_has_examples_that_it_accepts(event_type: str) -> None:
    examples = schema(event_type).get("examples")
    assert isinstance(examples, list) and examples, f"{event_type}: no `examples`"
    for example in examples:
        validate_data(event_type, example)  # raises event_schema_invalid
        # the examples are full payloads: every property the schema knows is given
        assert set(example) >= set(schema(event_type).get("required", [])), event_type


@pytest.mark.parametrize("service", SERVICES)
def test_every_event_the_docs_name_has_a_schema_once_its_producer_landed(service: str) -> None:
    named = {t for t in api_md.event_names() if producer(t) == service}
    if service in WAITING_SCHEMAS:
        assert not schemas_of(service), (
            f"{service} publishes schemas now: remove it from waiting.WAITING_SCHEMAS"
        )
        return
    assert named <= set(known_types()), f"without a schema: {sorted(named - set(known_types()))}"


def test_the_docs_name_events_of_every_service_that_publishes() -> None:
    assert {producer(t) for t in api_md.event_names()} == {
        "registry",
        "approval",
        "filing",
        "funding",
        "evaluation",
    }
    assert "govit.filing.progress.filed" in api_md.event_names()  # the filing types' list
    assert "govit.approval.project.status_changed" in api_md.event_names()  # `.x` names


def consumed(service: str, pattern: str) -> list[str]:
    """The published types (with a schema) a consumer's pattern takes."""
    return [t for t in known_types() if matches(pattern, t)]


def test_consumer_reads_stay_required_by_the_producer() -> None:
    broken = []
    for consumer, patterns in READS.items():
        for pattern, fields in patterns.items():
            for event_type in consumed(consumer, pattern):
                required = set(schema(event_type).get("required", []))
                if lacking := fields - required:
                    broken.append(f"{consumer} reads {sorted(lacking)} of {event_type}")
    assert not broken, "a producer no longer requires what a consumer reads:\n" + "\n".join(broken)


def test_a_producer_changing_its_required_fields_fails_until_the_consumers_are_reviewed() -> None:
    changed = []
    consumed_types = {t for patterns in READS.values() for p in patterns for t in consumed("", p)}
    for event_type in sorted(consumed_types):
        required = frozenset(schema(event_type).get("required", []))
        reviewed = REVIEWED.get(event_type)
        if reviewed is None:
            changed.append(f"{event_type}: never reviewed (required: {sorted(required)})")
        elif required != reviewed:
            changed.append(
                f"{event_type}: added {sorted(required - reviewed)}, "
                f"dropped {sorted(reviewed - required)}"
            )
    assert not changed, (
        "producers changed the required fields consumers rely on; check every consumer in "
        "tests/contract/consumers.READS, then update REVIEWED:\n" + "\n".join(changed)
    )


def test_reads_cover_the_who_consumes_what_table() -> None:
    table = api_md.PAYLOADS_MD.read_text(encoding="utf-8").split("## Who consumes what", 1)[1]
    for row in table.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] not in SERVICES:
            continue
        listed = set(re.findall(r"`(govit\.[a-z_.*]+)`", cells[1]))
        assert listed == set(READS[cells[0]]), cells[0]


def test_the_contract_checks_can_fail() -> None:
    """The matching and the checks above are not vacuous."""
    assert matches("govit.filing.*.filed", "govit.filing.contract.filed")
    assert not matches("govit.filing.*.filed", "govit.filing.acceptance.recorded")
    assert matches("govit.registry.>", "govit.registry.system.updated")
    assert consumed("funding", "govit.registry.system.*") == [
        "govit.registry.system.registered",
        "govit.registry.system.updated",
    ]


def test_a_payload_breaking_its_schema_is_refused_before_it_reaches_the_outbox() -> None:
    with pytest.raises(GovitError) as refused:
        validate_data("govit.registry.unit.registered", {"id": "not-a-uuid", "name": ""})
    assert refused.value.code == "event_schema_invalid"


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(GovitError) as refused:
        validate_data("govit.registry.system.vanished", {})
    assert refused.value.code == "event_type_unknown"


@pytest.mark.parametrize("service", SERVICES)
def test_every_publishing_service_checks_its_own_outbox_rows(service: str) -> None:
    """Each producer's own route tests run through ``rolled_back_client``, which checks
    every outbox row they wrote against its schema (``assert_cloudevent``); the e2e
    suite checks every row the real flows wrote (tests/e2e/test_lifecycle.py)."""
    from shared.settings import REPO_ROOT

    tests = REPO_ROOT / "tests" / service
    assert schemas_of(service), f"{service} publishes no event"
    users = [
        p.name
        for p in tests.glob("*.py")
        if "rolled_back_client" in p.read_text(encoding="utf-8")
        or "assert_cloudevent" in p.read_text(encoding="utf-8")
    ]
    assert users, f"tests/{service} never checks the outbox rows its use cases write"
