"""JSON logs (structlog) carrying the request id from asgi-correlation-id; the request
metrics' route names looked up once per path."""

from __future__ import annotations

import logging
import sys
from collections import OrderedDict
from typing import Any, cast

import structlog
from asgi_correlation_id import correlation_id
from prometheus_fastapi_instrumentator.middleware import PrometheusInstrumentatorMiddleware
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.types import ASGIApp


def _add_request_id(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    request_id = correlation_id.get()
    if request_id:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route stdlib and structlog records through one JSON renderer on stdout."""
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_request_id,
        lambda _, __, ev: {**ev, "service": service},
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared_processors, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


# --- request metrics ------------------------------------------------------------------------

ROUTE_NAMES_KEPT = 4096


class _RouteNamesRemembered(PrometheusInstrumentatorMiddleware):
    """The instrumentator's middleware, remembering the route template of each path.

    Its ``_get_handler`` walks every route of the app on every request, and under
    FastAPI's included routers rebuilds each route's effective context as it goes:
    6 % of a catalogue page's time in the registry (bench/read_path.py profile).
    The template of a (method, root path, path) never changes once the app runs, so
    it is looked up once (``ROUTE_NAMES_KEPT`` kept, least recent forgotten first;
    a path with an id in it is one entry per id, which is why the bound).
    """

    def __init__(self, app: ASGIApp, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._names: OrderedDict[tuple[str, str, str], tuple[str, bool]] = OrderedDict()

    def _get_handler(self, request: Request) -> tuple[str, bool]:
        scope = request.scope
        key = (scope["method"], scope.get("root_path", ""), scope["path"])
        found = self._names.get(key)
        if found is not None:
            self._names.move_to_end(key)
            return found
        found = super()._get_handler(request)
        self._names[key] = found
        if len(self._names) > ROUTE_NAMES_KEPT:
            self._names.popitem(last=False)
        return found


def remember_route_names(app: Starlette) -> None:
    """After ``Instrumentator(...).instrument(app)``: the same metrics, each path's route
    template looked up once (``_RouteNamesRemembered``). Call before the first request."""
    for index, entry in enumerate(app.user_middleware):
        if cast(object, entry.cls) is PrometheusInstrumentatorMiddleware:
            remembered: Any = _RouteNamesRemembered
            app.user_middleware[index] = Middleware(remembered, *entry.args, **entry.kwargs)
            return
    raise RuntimeError("the app is not instrumented: call Instrumentator().instrument(app) first")
