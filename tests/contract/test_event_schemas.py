"""Event contracts: every schema is valid JSON Schema, every published type has one."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft202012Validator

from shared.errors import GovitError
from shared.events.schemas import SCHEMA_DIR, known_types, validate_data
from shared.settings import REPO_ROOT

API_MD = REPO_ROOT.parent / "shared" / "API.md"
# The services that publish today (those with a schema): each must cover every event
# of its own that API.md names.
IMPLEMENTED = tuple(sorted({f"govit.{t.split('.')[1]}." for t in known_types()}))


def test_every_schema_is_valid_json_schema_named_after_its_type() -> None:
    assert known_types(), "no schemas found"
    for event_type in known_types():
        schema = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        assert re.fullmatch(r"govit\.[a-z]+\.[a-z_]+\.[a-z_]+", event_type)
        assert schema["$id"].endswith(f"/{event_type}.json")


def test_every_event_a_publishing_service_names_in_api_md_has_a_schema() -> None:
    names = set(re.findall(r"`(govit\.[a-z_.]+)`", API_MD.read_text(encoding="utf-8")))
    published = {n for n in names if n.startswith(IMPLEMENTED)}
    assert {"govit.registry.system.registered", "govit.registry.system.updated"} <= published
    assert published <= set(known_types())


def test_a_payload_breaking_its_schema_is_refused_before_it_reaches_the_outbox() -> None:
    with pytest.raises(GovitError) as refused:
        validate_data("govit.registry.unit.registered", {"id": "not-a-uuid", "name": ""})
    assert refused.value.code == "event_schema_invalid"


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(GovitError) as refused:
        validate_data("govit.registry.system.vanished", {})
    assert refused.value.code == "event_type_unknown"
