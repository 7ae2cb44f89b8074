"""The registry service: the catalogue of government information systems, their data
resources and the unit directory. Approval and funding refuse uncatalogued systems.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.registry.api import MAX_IMPORT_BYTES, router
from services.registry.models import events, idempotency_keys
from shared.app import create_app
from shared.settings import GovitSettings


class RegistrySettings(GovitSettings):
    service_name: str = "registry"


def build_app(settings: RegistrySettings | None = None) -> FastAPI:
    return create_app(
        settings=settings or RegistrySettings(),
        title="govit registry",
        routers=[router],
        tables=events,
        idempotency_keys=idempotency_keys,
        body_limits={"POST /api/v1/systems:import": MAX_IMPORT_BYTES},
    )
