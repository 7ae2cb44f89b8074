"""The approval service: applications, materials, pre-screening, opinions,
decisions, changes, termination.

Its business endpoints come with its own issue; today it migrates, carries the
outbox/inbox tables and answers /healthz, /readyz and /metrics.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.approval.models import events
from shared.app import create_app
from shared.settings import GovitSettings


class ApprovalSettings(GovitSettings):
    service_name: str = "approval"


def build_app(settings: ApprovalSettings | None = None) -> FastAPI:
    return create_app(
        settings=settings or ApprovalSettings(),
        title="govit approval",
        routers=[],
        tables=events,
    )
