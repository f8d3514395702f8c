"""Prometheus metrics for the service *and* the model, correct under several uvicorn workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``farga serve --workers N`` sets it), every worker writes
its samples to that folder and ``/metrics`` aggregates them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from farga.serving import stages

# the client picks the method: any other than these is counted as "other", so that a client sending
# made-up methods cannot add series without end
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)

REQUEST_LATENCY = Histogram(
    "farga_http_request_duration_seconds",
    "HTTP request latency",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
PREDICTIONS = Counter("farga_predictions_total", "Predictions by top-1 class", ["component", "model_version", "label"])
CONFIDENCE = Histogram(
    "farga_prediction_confidence",
    "Top-1 score of each prediction",
    ["component"],
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0),
)
UNSURE = Counter(
    "farga_predictions_unsure_total",
    "Predictions answered 'not sure' (top score under the model's calibrated threshold)",
    ["component"],
)
FEEDBACK = Counter(
    "farga_feedback_total",
    "User feedback: agree = the top-1 was right, disagree = another label, "
    "disagree_outside_topk = the label was not among the candidates shown",
    ["component", "agreement"],
)
MODEL_INFO = Gauge(
    "farga_model_info",
    "The model being served (value 1)",
    ["component", "version", "run_id"],
    multiprocess_mode="liveall",
)
MODEL_LOADED = Gauge("farga_model_loaded", "1 when a model is loaded", ["component"], multiprocess_mode="livemin")
RELOADS = Counter("farga_model_reloads_total", "Model reload attempts", ["component", "outcome"])


def count_feedback(component: str, label: str, shown: Sequence[str]) -> str:
    """How a user's label relates to the candidates shown (best first), counted in ``FEEDBACK``."""
    agreement = "agree" if shown and label == shown[0] else "disagree" if label in shown else "disagree_outside_topk"
    FEEDBACK.labels(component, agreement).inc()
    return agreement


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class LatencyMiddleware:
    """Pure ASGI middleware: one histogram observation per request, labelled by route template, and
    the request's clock (``stages``) started and closed."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        clock = stages.start()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            stages.finish(clock, path)
            method = scope.get("method", "")
            REQUEST_LATENCY.labels(path, method if method in METHODS else "other", str(status["code"])).observe(
                time.perf_counter() - started
            )
