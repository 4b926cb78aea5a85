"""``GET /metrics``: Prometheus text format, summed over every worker of the server.

Request counts and latency histograms per endpoint (the route template, so
``/v1/members/<member_id>/offers`` is one series whatever the member),
accepted events, model reloads and the model version served.

Uses ``prometheus_client``. Under ``offers serve`` (several gunicorn workers)
``PROMETHEUS_MULTIPROC_DIR`` is set before the workers start, each worker
writes its numbers to files there, and whichever worker answers ``/metrics``
adds them all up; a single process (tests, ``--dev``) keeps them in memory.
"""

from __future__ import annotations

import os
import time

from flask import Blueprint, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

bp = Blueprint("metrics", __name__)

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The server's metrics, registered in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = {"registry": self.registry}
        self.requests = Counter("offers_http_requests", "HTTP requests answered.",
                                ["endpoint", "method", "status"], **reg)
        self.latency = Histogram("offers_http_request_duration_seconds",
                                 "Time to answer a request (to the first byte of a stream).",
                                 ["endpoint", "method"], buckets=BUCKETS, **reg)
        self.events = Counter("offers_events", "Offer events received.", ["event", "result"],
                              **reg)
        self.reloads = Counter("offers_model_reloads", "Model reloads by result.", ["result"],
                               **reg)
        self.model = Gauge("offers_model_info", "1 for the model version being served.",
                           ["version"], multiprocess_mode="livemax", **reg)
        self._series: dict[tuple, tuple] = {}  # (rule, method, status) -> (counter, histogram)

    def swapped(self, old: str | None, new: str) -> None:
        if old and old != new:
            self.model.labels(version=old).set(0)
        self.model.labels(version=new).set(1)

    def observe(self, response) -> None:
        req = request._get_current_object()
        self.count(req.url_rule.rule if req.url_rule else "unmatched", req.method,
                   response.status_code, g.get("started"))

    def count(self, rule: str, method: str, status: int, started: float | None) -> None:
        """One answered request of route ``rule`` (also called by the fast path)."""
        key = (rule, method, status)
        series = self._series.get(key)
        if series is None:  # labels() takes a lock and builds keys: once per series
            series = (self.requests.labels(rule, method, str(status)),
                      self.latency.labels(rule, method))
            self._series[key] = series
        series[0].inc()
        if started is not None:
            series[1].observe(time.perf_counter() - started)

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


@bp.get("/metrics")
def metrics():
    """Prometheus text exposition (no key needed: it holds no member data)."""
    body = current_app.extensions["offers_metrics"].render()
    # content_type, not mimetype: Flask would replace the parameters with its own charset, and
    # scrapers pick the exposition format by the exact header (issue 14).
    return Response(body, content_type=CONTENT_TYPE_LATEST)
