"""Consumers against their producers' schemas, on each service's migrated database.

For every service, its app is started (lifespan, no relay) and its consumers are
taken from the supervisor. Then:

- each consumer takes every event type docs/event-payloads.md says it takes
  (``tests/contract/consumers.READS``), once that type has a schema;
- each schema example of a type a consumer takes is fed to it
  (``Consumer.handle_once``, the consumer's own transaction handling): accepted,
  a redelivery is absorbed by the inbox, and a copy with a new event id (a replay
  of the same state) changes nothing and does not fail;
- a projection that copies the event's fields by column name reads only fields its
  producer requires.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI

from deploy.local.stack import SERVICES
from shared.events.consumer import Consumer
from shared.events.envelope import new_event
from shared.events.projection import Projection
from shared.events.schemas import SCHEMA_DIR, known_types
from tests.contract.consumers import READS, matches
from tests.contract.test_event_schemas import schema
from tests.contract.waiting import WAITING_CONSUMERS
from tests.support.databases import Databases
from tests.support.fixtures import Stack, service_settings

ORDER = ("registry", "approval", "filing", "evaluation", "funding")  # upstream first


def build(service: str, stack: Stack, url: str) -> FastAPI:
    module = importlib.import_module(f"services.{service}.app")
    settings_class = next(
        v for k, v in vars(module).items() if k.endswith("Settings") and k != "GovitSettings"
    )
    settings = service_settings(settings_class, stack, url, outbox_relay_enabled=False)
    app: FastAPI = module.build_app(settings)
    return app


def examples() -> list[tuple[str, dict[str, Any]]]:
    """Every schema example, upstream producers first."""
    ordered = sorted(known_types(), key=lambda t: (ORDER.index(t.split(".")[1]), t))
    return [(t, example) for t in ordered for example in schema(t).get("examples", [])]


def subject_of(data: dict[str, Any]) -> str | None:
    for key in ("id", "project_id", "year"):
        if data.get(key) is not None:
            return str(data[key])
    return None


@pytest.mark.parametrize("service", SERVICES)
async def test_consumers_take_what_the_docs_say_and_accept_every_example(
    service: str, stack: Stack, databases: Databases, dev_keys: object
) -> None:
    assert SCHEMA_DIR.is_dir()
    app = build(service, stack, await databases.migrated(service))
    async with app.router.lifespan_context(app):
        consumers = [w for w in app.state.workers.workers.values() if isinstance(w, Consumer)]
        expected = {
            t for pattern in READS.get(service, {}) for t in known_types() if matches(pattern, t)
        }
        taken = {t for t in known_types() for c in consumers if matches(c.subject, t)}
        if service in WAITING_CONSUMERS and not consumers:
            return  # listed, and it consumes nothing yet (the list stays true)
        assert service not in WAITING_CONSUMERS, (
            f"{service} consumes now: remove it from waiting.WAITING_CONSUMERS"
        )
        assert expected <= taken, f"{service} does not consume {sorted(expected - taken)}"

        for consumer in consumers:
            projection = getattr(consumer.handler, "__self__", None)
            # a projection that copies the event's fields by name (no ``row`` of its own)
            if isinstance(projection, Projection) and projection.row == projection._columns_of:
                columns = {c.key for c in projection.table.c} - {projection.key.key}
                for event_type in (t for t in known_types() if matches(consumer.subject, t)):
                    required = set(schema(event_type).get("required", []))
                    assert columns <= required | {"id"}, (
                        f"{consumer.name}'s projection reads {sorted(columns - required)}, "
                        f"which {event_type} does not require"
                    )

        fed = 0
        for event_type, data in examples():
            for consumer in (c for c in consumers if matches(c.subject, event_type)):
                source = f"/govit/{event_type.split('.')[1]}"
                at = datetime.now(UTC)
                event = new_event(
                    event_type, source=source, data=data, time=at, subject=subject_of(data)
                )
                async with app.state.db.transaction() as session:
                    assert await consumer.handle_once(session, event), (consumer.name, event_type)
                async with app.state.db.transaction() as session:  # redelivered
                    assert not await consumer.handle_once(session, event)
                replay = new_event(
                    event_type, source=source, data=data, time=at, subject=subject_of(data)
                )
                async with app.state.db.transaction() as session:  # same state, new id
                    assert await consumer.handle_once(session, replay)
                fed += 1
        assert fed or not consumers, f"{service}'s consumers met no example"
