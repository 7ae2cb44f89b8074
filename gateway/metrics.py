"""Prometheus metrics: the instrumentator's HTTP metrics plus per-route ones, served
on their own port (``GOVIT_METRICS_HOST``:``GOVIT_METRICS_PORT``), never on the
public one: the counts and timings per route tell an outsider what the suite does
and when. Unset, they are not served at all. prometheus_client's own threaded
server does the serving (``start_http_server``), started and stopped with the app.

Every proxied request lands in ``govit_gateway_request_duration_seconds``
(histogram; time until the answer's headers) and ``govit_gateway_requests_total``
(counter with the exact status), labelled by service, route (the owning prefix of
API.md, so the label set stays small whatever the paths) and method. Refusals
made at the door (401, 413, 429, 502, 504) are counted too.

Each app gets its own registry, so several apps in one process (tests) never
collide on metric names.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_fastapi_instrumentator import Instrumentator

from shared.observability import remember_route_names

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class RouteMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
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
    Instrumentator(registry=registry).instrument(app)  # measured here, exposed elsewhere
    remember_route_names(app)  # each path's route template looked up once
    return RouteMetrics(registry)


class MetricsServer:
    """``/metrics`` (any path, in fact) on its own address, in a daemon thread."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._server: WSGIServer
        self._thread: threading.Thread
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)

    @property
    def port(self) -> int:
        """The bound port (the setting may be 0: any free port)."""
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
