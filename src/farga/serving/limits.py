"""What stands between a client and the routes: the body limit, per-client rate limits, and the
headers every response carries. Pure ASGI, so a refused request costs no parsing and no thread.

The body is read here, whole and bounded, before any route sees it: a declared or streamed
(chunked) body over the limit gets 413, one that does not arrive within the timeout 408, on every
route alike. The routes then read the buffered copy.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from farga.serving import stages
from farga.serving.connection_share import Balance
from farga.serving.errors import error_response
from farga.serving.shutdown import DRAINING

Scope = dict[str, Any]


class BodyLimitMiddleware:
    def __init__(self, app: Any, max_bytes: int, timeout_s: float = 10.0):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            stages.mark(stages.MIDDLEWARE)
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and not declared.isdigit():
            await error_response(400, "the Content-Length header is not a number")(scope, receive, send)
            return
        if declared is not None and int(declared) > self.max_bytes:
            await error_response(413, f"request body over the limit of {self.max_bytes} bytes")(scope, receive, send)
            return
        chunks, seen = [], 0
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                await error_response(408, f"the request body did not arrive within {self.timeout_s:g} s")(
                    scope, receive, send
                )
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await error_response(413, f"request body over the limit of {self.max_bytes} bytes")(
                    scope, receive, send
                )
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the client's disconnect, as uvicorn does

        stages.mark(stages.MIDDLEWARE)
        await self.app(scope, replay, send)


@dataclass(frozen=True)
class Rate:
    per_s: float  # 0: no limit
    burst: int


class RateLimitMiddleware:
    """Token buckets per client (``scope["client"]``, which farga.serving.identity has made the client's
    identity) and kind of request, per worker. The kind is the segment after the component,
    ``/v1/<component>/<kind>[/...]``: every route under it draws from one bucket, each request as many
    tokens as ``costs`` gives the rest of its path (``image`` for ``/predict/image``; 1 otherwise).
    At most ``max_clients`` buckets are kept (least recently seen dropped first), so a crowd of
    addresses cannot grow them."""

    def __init__(
        self, app: Any, rates: Mapping[str, Rate], costs: Mapping[str, float] | None = None, max_clients: int = 10_000
    ):
        self.app = app
        self.rates = {kind: rate for kind, rate in rates.items() if rate.per_s > 0}
        self.costs = dict(costs or {})
        self.max_clients = max_clients
        self.buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def wait_s(self, client: str, kind: str, cost: float = 1.0) -> float:
        """0 when the request may go now (its tokens taken), else the seconds until it may."""
        rate, now = self.rates[kind], time.monotonic()
        cost = min(cost, float(rate.burst))  # a request dearer than the burst would never pass
        tokens, last = self.buckets.pop((client, kind), (float(rate.burst), now))
        tokens = min(float(rate.burst), tokens + (now - last) * rate.per_s)
        wait = 0.0 if tokens >= cost else (cost - tokens) / rate.per_s
        self.buckets[(client, kind)] = (tokens - cost if wait == 0 else tokens, now)
        while len(self.buckets) > self.max_clients:
            self.buckets.popitem(last=False)
        return wait

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.rates and scope["path"].startswith("/v1/"):
            segments = scope["path"].strip("/").split("/")  # v1, the component, the kind, the rest
            kind = segments[2] if len(segments) > 2 else ""
            if kind in self.rates:
                client = (scope.get("client") or ("unknown", 0))[0]
                wait = self.wait_s(client, kind, self.costs.get("/".join(segments[3:]), 1.0))
                if wait > 0:
                    await error_response(
                        429,
                        f"too many {kind} requests from this client: at most {self.rates[kind].per_s:g} a second",
                        {"Retry-After": str(max(1, math.ceil(wait)))},
                    )(scope, receive, send)
                    return
        await self.app(scope, receive, send)


# The page loads its scripts and styles from this origin only; drawings become data: URLs.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class ResponseHeadersMiddleware:
    """Headers every response carries; the page (HTML) also gets its content security policy. An
    answer says ``Connection: close`` while the worker drains for shutdown, and when the worker holds
    more than its share of the service's connections (connection_share)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers += COMMON_HEADERS
                if DRAINING.is_set() or Balance.should_let_go():
                    headers.append((b"connection", b"close"))
                content_type = dict(headers).get(b"content-type", b"")
                page = scope["path"] == "/" or scope["path"].startswith("/static/")
                if page and content_type.startswith(b"text/html"):
                    headers.append((b"content-security-policy", PAGE_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
