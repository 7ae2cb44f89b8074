"""The funding service: budgets, allocation plans and disbursements behind the rules' gates.

Its business endpoints come with its own issue; today it migrates, carries the
outbox/inbox tables and answers /healthz, /readyz and /metrics.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.funding.models import events
from shared.app import create_app
from shared.settings import GovitSettings


class FundingSettings(GovitSettings):
    service_name: str = "funding"


def build_app(settings: FundingSettings | None = None) -> FastAPI:
    return create_app(
        settings=settings or FundingSettings(),
        title="govit funding",
        routers=[],
        tables=events,
    )
