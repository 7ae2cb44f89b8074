"""The evaluation service: evaluations and rectification orders.

Its business endpoints come with its own issue; today it migrates, carries the
outbox/inbox tables and answers /healthz, /readyz and /metrics.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.evaluation.models import events
from shared.app import create_app
from shared.settings import GovitSettings


class EvaluationSettings(GovitSettings):
    service_name: str = "evaluation"


def build_app(settings: EvaluationSettings | None = None) -> FastAPI:
    return create_app(
        settings=settings or EvaluationSettings(),
        title="govit evaluation",
        routers=[],
        tables=events,
    )
