"""The filing service: contract, supervisor and acceptance filings with working-day deadlines.

Its business endpoints come with its own issue; today it migrates, carries the
outbox/inbox tables and answers /healthz, /readyz and /metrics.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.filing.models import events
from shared.app import create_app
from shared.settings import GovitSettings


class FilingSettings(GovitSettings):
    service_name: str = "filing"


def build_app(settings: FilingSettings | None = None) -> FastAPI:
    return create_app(
        settings=settings or FilingSettings(),
        title="govit filing",
        routers=[],
        tables=events,
    )
