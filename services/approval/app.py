"""The approval service: applications, materials, pre-screening, opinions, reviews,
decisions, changes and termination (API.md "Approval"), with the projections of the
registry's units and systems and the status moves that filing and evaluation events
cause.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.approval.api import router
from services.approval.consumers import consumers
from services.approval.models import events, idempotency_keys
from shared.app import create_app
from shared.settings import GovitSettings


class ApprovalSettings(GovitSettings):
    service_name: str = "approval"
    # Tests that feed events by hand (Consumer.handle_once) run without the workers.
    consumers_enabled: bool = True


def build_app(settings: ApprovalSettings | None = None) -> FastAPI:
    settings = settings or ApprovalSettings()
    return create_app(
        settings=settings,
        title="govit approval",
        routers=[router],
        tables=events,
        idempotency_keys=idempotency_keys,
        consumers=consumers if settings.consumers_enabled else None,
    )
