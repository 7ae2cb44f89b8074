"""The funding service: budgets, allocation plans and disbursements behind the rules' gates.

Its consumers keep a projection of approval's projects, the registry's systems,
filing's filings, acceptances and calendar, and evaluation's orders and results;
every change of a project's facts decides its gates again (``consumers.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from fastapi import FastAPI
from pydantic import Field

from services.funding import consumers
from services.funding.api import router
from services.funding.models import events, idempotency_keys
from shared.app import create_app
from shared.clock import Clock
from shared.events.consumer import Consumer
from shared.settings import GovitSettings


class FundingSettings(GovitSettings):
    service_name: str = "funding"
    # xiangfen:14 and jincheng:11 require a public notice of the allocation plan but
    # name no length: this is the default (docs/funding.md says where 5 comes from);
    # an administrator overrides it per profile (PUT /api/v1/funding/notice-settings/..).
    public_notice_workdays: int = Field(default=5, ge=0, le=60)
    # Durable consumer names are "<prefix>-<what>" (docs/event-payloads.md).
    consumer_prefix: str = Field(default="funding", pattern=r"^[a-z][a-z0-9-]{0,40}$")
    consumers_enabled: bool = True
    # Messages per pull. nats-py's fetch, once one message has come, waits for the rest
    # of the batch until the pull expires, so a lone event (an acceptance filed) would
    # wait out that window: gate events are rare and urgent, so one at a time.
    consumer_batch_size: int = Field(default=1, ge=1, le=256)


def _consumers(app: FastAPI) -> Sequence[Consumer]:
    settings: FundingSettings = app.state.settings
    if not settings.consumers_enabled:
        return []

    def now() -> tuple[datetime, date]:
        clock: Clock = app.state.clock  # read per event: tests may swap the clock
        at = clock.now()
        return at, clock.today()

    return [
        Consumer(
            app.state.db,
            events,
            app.state.bus,
            durable=f"{settings.consumer_prefix}-{what}",
            subject=subject,
            handler=consumers.handler(what, now),
            max_deliveries=settings.consumer_max_deliveries,
            batch_size=settings.consumer_batch_size,
        )
        for what, subject in consumers.SUBSCRIPTIONS
    ]


def build_app(settings: FundingSettings | None = None) -> FastAPI:
    return create_app(
        settings=settings or FundingSettings(),
        title="govit funding",
        routers=[router],
        tables=events,
        idempotency_keys=idempotency_keys,
        consumers=_consumers,
    )
