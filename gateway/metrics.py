"""Prometheus metrics: the instrumentator's HTTP metrics plus per-route ones.

Every proxied request lands in ``govit_gateway_request_duration_seconds``
(histogram; time until the answer's headers) and ``govit_gateway_requests_total``
(counter with the exact status), labelled by service, route (the owning prefix of
API.md, so the label set stays small whatever the paths) and method. Refusals
made at the door (401, 413, 429, 502, 504) are counted too.

Each app gets its own registry, so several apps in one process (tests) never
collide on metric names.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_fastapi_instrumentator import Instrumentator

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class RouteMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "govit_gateway_request_duration_seconds",
            "Time from receiving a proxied request to its answer's headers.",
            ("service", "route", "method"),
            buckets=BUCKETS,
            registry=registry,
        )
        self.requests = Counter(
            "govit_gateway_requests",
            "Proxied requests by answer status.",
            ("service", "route", "method", "status"),
            registry=registry,
        )

    def observe(self, service: str, route: str, method: str, status: int, seconds: float) -> None:
        self.duration.labels(service, route, method).observe(seconds)
        self.requests.labels(service, route, method, str(status)).inc()


def install_metrics(app: FastAPI) -> RouteMetrics:
    registry = CollectorRegistry(auto_describe=True)
    Instrumentator(excluded_handlers=["/metrics"], registry=registry).instrument(app).expose(
        app, endpoint="/metrics", include_in_schema=False
    )
    return RouteMetrics(registry)
