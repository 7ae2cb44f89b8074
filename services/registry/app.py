"""The registry service: the catalogue of government information systems, their data
resources and the unit directory. Approval and funding refuse uncatalogued systems.
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import Field

from services.registry.api import MAX_IMPORT_BYTES, router
from services.registry.import_worker import workers
from services.registry.models import events, idempotency_keys
from shared.app import create_app
from shared.settings import GovitSettings


class RegistrySettings(GovitSettings):
    service_name: str = "registry"
    # The import worker (imports answered 202): how often it looks for queued imports
    # (GOVIT_IMPORT_POLL_SECONDS), and how long a running import counts as its
    # replica's before another replica takes it again (GOVIT_IMPORT_LEASE_SECONDS;
    # a replica running an import keeps it locked, however long it takes).
    import_poll_seconds: float = Field(default=1.0, gt=0)
    import_lease_seconds: float = Field(default=60.0, gt=0)
    import_worker_enabled: bool = True


def build_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or RegistrySettings()
    return create_app(
        settings=settings,
        title="govit registry",
        routers=[router],
        tables=events,
        idempotency_keys=idempotency_keys,
        body_limits={"POST /api/v1/systems:import": MAX_IMPORT_BYTES},
        workers=workers if settings.import_worker_enabled else None,
    )
