"""One JSON Schema per event type, in this folder as ``<type>.json``.

Producers validate before writing to the outbox and consumers after decoding, so a
payload that breaks the contract is caught at the edge that made it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from shared.errors import GovitError

SCHEMA_DIR = Path(__file__).parent


def known_types() -> list[str]:
    return sorted(p.stem for p in SCHEMA_DIR.glob("govit.*.json"))


@cache
def validator_for(event_type: str) -> Draft202012Validator:
    path = SCHEMA_DIR / f"{event_type}.json"
    if not path.is_file():
        raise GovitError(400, "event_type_unknown", f"no schema for event type {event_type}")
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate_data(event_type: str, data: dict[str, Any]) -> None:
    errors = sorted(validator_for(event_type).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(root)"
        raise GovitError(400, "event_schema_invalid", f"{event_type}: {where}: {errors[0].message}")
