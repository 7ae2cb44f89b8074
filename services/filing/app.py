"""The filing service: filings of every type, obligations with working-day deadlines,
acceptance results, the calendar, and the missed-deadline scheduler (issue 19).
"""

from __future__ import annotations

from fastapi import FastAPI

from services.filing.api import router
from services.filing.consumers import consumers
from services.filing.domain import LiveCalendar
from services.filing.models import events, idempotency_keys
from services.filing.scheduler import workers
from shared.app import create_app
from shared.calendar import load_calendar
from shared.settings import GovitSettings


class FilingSettings(GovitSettings):
    service_name: str = "filing"
    # How often the scheduler looks for deadlines that have just passed.
    deadline_check_seconds: float = 60.0
    # Off in tests that share one rolled-back connection among requests: a worker
    # there would run its statements on the test's connection between a request's.
    deadline_scheduler_enabled: bool = True
    consumers_enabled: bool = True
    # The durable consumer of approval's project events; replicas share it (each event
    # is handled once per service), a separate deployment (a test) names its own.
    projects_durable: str = "filing-projects"


def build_app(settings: FilingSettings | None = None) -> FastAPI:
    settings = settings or FilingSettings()
    app = create_app(
        settings=settings,
        title="govit filing",
        routers=[router],
        tables=events,
        idempotency_keys=idempotency_keys,
        consumers=consumers if settings.consumers_enabled else None,
        workers=workers if settings.deadline_scheduler_enabled else None,
    )
    # Shipped and administrator-file years; years loaded through the API are applied
    # from the database by each request and scheduler pass (every replica alike).
    app.state.live_calendar = LiveCalendar(load_calendar(settings))
    return app
