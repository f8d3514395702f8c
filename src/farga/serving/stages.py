"""Where a request's time goes, on every request: one clock per request, split into named stages.

The latency middleware (outermost but for the headers) starts the clock; the innermost middleware
marks the end of the middleware stack (rate limit, client identity, the body read whole); the route
reader marks the JSON parsed; a route marks the end of each of its own steps (validation, rendering,
inference, logging, serialising); the latency middleware closes the last stage when the response has
been sent. Each stage is one observation of ``farga_request_stage_seconds``, so the breakdown holds
under load and across workers, and `farga bench` reads it from /metrics before and after each level.
A mark outside a request (a test calling a route's code directly) is a no-op.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache

from prometheus_client import Histogram

STAGE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

STAGE_SECONDS = Histogram(
    "farga_request_stage_seconds",
    "Time a request spent in each stage of the service, by route template",
    ["route", "stage"],
    buckets=STAGE_BUCKETS,
)

MIDDLEWARE = "middleware"  # from the latency middleware to the route reader: limits, identity, body read
PARSE = "parse"  # the JSON body parsed, once, by the route reader
RESPOND = "respond"  # from the route's return to the last byte handed to the server


@dataclass
class Clock:
    last: float = field(default_factory=time.perf_counter)
    spent: list[tuple[str, float]] = field(default_factory=list)

    def mark(self, stage: str) -> None:
        now = time.perf_counter()
        self.spent.append((stage, now - self.last))
        self.last = now


_clock: ContextVar[Clock | None] = ContextVar("farga_request_clock", default=None)


def start() -> Clock:
    """A new clock for the request this task is serving."""
    clock = Clock()
    _clock.set(clock)
    return clock


def mark(stage: str) -> None:
    """The time since the last mark belongs to ``stage``."""
    clock = _clock.get()
    if clock is not None:
        clock.mark(stage)


def finish(clock: Clock, route: str) -> None:
    """Close the last stage and observe them all under ``route``."""
    clock.mark(RESPOND)
    for stage, seconds in clock.spent:
        stage_histogram(route, stage).observe(seconds)
    _clock.set(None)


@lru_cache(maxsize=1024)  # route templates (the app's, and "unmatched") times stages: a fixed set
def stage_histogram(route: str, stage: str) -> Histogram:
    """The labelled child, looked up once: ten observations a request made ``labels()`` a cost."""
    return STAGE_SECONDS.labels(route, stage)
