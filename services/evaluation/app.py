"""The evaluation service: evaluations (self, post, efficacy, unit annual), public
questionnaires, finance spot checks, unit assessments and rectification orders.

It keeps projections of approval's projects, the registry's units and filing's
self-evaluation filings, and turns a missed acceptance deadline into a *suggested*
rectification order (``consumers.py``).
"""

from __future__ import annotations

from fastapi import FastAPI

from services.evaluation.api import anonymous, router
from services.evaluation.consumers import consumers
from services.evaluation.models import events, idempotency_keys
from shared.app import create_app
from shared.settings import GovitSettings


class EvaluationSettings(GovitSettings):
    service_name: str = "evaluation"
    # Off only where requests share one rolled-back connection (route tests).
    consumers_enabled: bool = True


def build_app(settings: EvaluationSettings | None = None) -> FastAPI:
    settings = settings or EvaluationSettings()
    return create_app(
        settings=settings,
        title="govit evaluation",
        routers=[router, anonymous],
        tables=events,
        idempotency_keys=idempotency_keys,
        consumers=consumers if settings.consumers_enabled else None,
    )
