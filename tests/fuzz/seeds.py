"""What each service's fuzz starts from, so generated requests reach past 404.

A seeder writes through the service's own API (a separate app instance on the
same database) and returns ids by the name of the path parameter or body field
they can stand for; the fuzz swaps them in for some of the generated values.
A service without a seeder is fuzzed on its empty database.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from tests.registry.conftest import system_body
from tests.support.apps import created_id
from tests.support.fixtures import TokenFactory, auth

JURISDICTION = "linfen-water"


@dataclass
class Seeded:
    unit_org: str = "00000000-0000-0000-0000-000000000000"  # the unit role's org
    known: dict[str, list[str]] = field(default_factory=dict)  # name → ids


Seeder = Callable[[httpx.AsyncClient, TokenFactory], Awaitable[Seeded]]


async def seed_registry(client: httpx.AsyncClient, token: TokenFactory) -> Seeded:
    admin = auth(token(roles=["admin"], jurisdiction=JURISDICTION))
    units = [
        created_id(
            await client.post(
                "/api/v1/units", json={"name": name, "jurisdiction": JURISDICTION}, headers=admin
            )
        )
        for name in ("临汾市水利局信息中心", "临汾市水文水资源勘测站")
    ]
    owner = auth(token(roles=["unit"], org=units[0], jurisdiction=JURISDICTION))
    system = system_body(uuid.UUID(units[0]))
    operating = created_id(await client.post("/api/v1/systems", json=system, headers=owner))
    retired = created_id(
        await client.post(
            "/api/v1/systems",
            json={**system, "name": "旧水位站", "status": "retired"},
            headers=owner,
        )
    )
    resource = {
        "name": "水位监测数据",
        "source": "水文站",
        "format": "JSON",
        "update_frequency": "每小时",
        "share_type": "conditional",
        "open_type": "none",
    }
    response = await client.post(
        f"/api/v1/systems/{operating}/resources", json=resource, headers=owner
    )
    assert response.status_code == 201, response.text
    # A background import (202), so GET /imports/{id} is fuzzed on one that exists.
    catalogue = (
        "org,name,status,network,cloud\r\n"
        + f"{units[0]},防汛指挥系统,planned,extranet,on_cloud\r\n"
    )
    queued = await client.post(
        "/api/v1/systems:import",
        content=catalogue.encode(),
        headers={**owner, "Content-Type": "text/csv", "Prefer": "respond-async"},
    )
    assert queued.status_code == 202, queued.text
    return Seeded(
        unit_org=units[0],
        known={
            "unit_id": units,
            "parent": units,
            "org": units,
            "system_id": [operating, retired],
            "import_id": [queued.json()["id"]],
        },
    )


def _seeders() -> dict[str, Seeder]:
    """The registry's seeder, and ``tests/<service>/fuzz_seed.py:seed`` where a service has one."""
    found: dict[str, Seeder] = {"registry": seed_registry}
    for service in ("approval", "filing", "funding", "evaluation"):
        try:
            module = importlib.import_module(f"tests.{service}.fuzz_seed")
        except ModuleNotFoundError as missing:
            if missing.name not in (f"tests.{service}", f"tests.{service}.fuzz_seed"):
                raise
            continue
        found[service] = module.seed
    return found


SEEDERS: dict[str, Seeder] = _seeders()
