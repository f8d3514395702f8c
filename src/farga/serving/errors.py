"""The one error model of every route: which 4xx/5xx a request gets, and the body it comes with.

Every error body is ``{"detail": "<one readable line>"}`` (validation errors add ``errors``, the
fields at fault), from the handlers installed here: a component's routes raise, they never build
error responses. The families:

- 400: the body cannot be read as what it claims to be (not UTF-8, not JSON, NaN/Infinity, nested
  deeper than ``MAX_JSON_DEPTH``, text with lone surrogates that no database can store);
- 413: over the body limit, declared or streamed; 408: a body that does not arrive in time;
- 415: a content type the route does not take;
- 422: well-formed, but fields missing, of the wrong type or out of range;
- 429: over the client's rate limit, with ``Retry-After``;
- 503: a fault of ours that passes (no model loaded, the database down, locked or full, the
  prediction log backed up), with ``Retry-After``: the client may try again.

A request never gets a 500 for something it sent; an unexpected error is logged with its traceback
and answered 500 with a line that names no internal detail.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from farga.serving import stages, store

log = logging.getLogger("farga.serving")
MAX_JSON_DEPTH = 16  # the deepest body any route takes is 4 (strokes -> stroke -> point -> field)
RETRY_AFTER_S = 5


class ApiError(Exception):
    """An error with its status and a line for the client; ``headers`` such as ``Retry-After``."""

    status = 400

    def __init__(self, detail: str, *, status: int | None = None, headers: Mapping[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.status = status or self.status
        self.headers = dict(headers or {})


class BadBodyError(ApiError):
    status = 400


class UnavailableError(ApiError):
    """Our fault, and passing: answered 503 with ``Retry-After``."""

    status = 503

    def __init__(self, detail: str, retry_after_s: int = RETRY_AFTER_S):
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


def error_body(detail: str, errors: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    return {"detail": detail} if errors is None else {"detail": detail, "errors": list(errors)}


def error_response(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=error_body(detail), headers=dict(headers or {}))


def explain(errors: Sequence[Mapping[str, Any]]) -> str:
    """One readable line from pydantic's validation errors: where, and what is wrong (first five)."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors[:5])


def is_json(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def _no_constants(name: str) -> Any:
    raise BadBodyError(f"{name} is not a JSON number: send finite numbers")


def parse_json(body: bytes) -> Any:
    """The body as JSON, or a 400 that says what is wrong with it; nothing unreadable gets further."""
    if not body:
        raise BadBodyError("the body is empty: send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBodyError(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise BadBodyError(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise BadBodyError(f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    check_json(value)
    return value


def check_json(value: Any) -> None:
    """Depth and text checks over a parsed body, without recursion (a hostile depth cannot crash it)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadBodyError(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, dict):
            for key, item in node.items():
                check_text(key)
                stack.append((item, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str):
            check_text(node)


def check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadBodyError(
            f"the text holds a lone surrogate (\\u{ord(text[exc.start]):04x}), which is not Unicode text"
        ) from None


FORWARD = "x-farga-forward"


def forward_to(routes: Mapping[str, str]) -> dict[str, Any]:
    """``openapi_extra`` for a JSON route whose URL also takes other media types, each answered by the
    route at the path given (``{"multipart/form-data": "/v1/<component>/predict/image"}``): one typed route
    per input kind, and the URL clients already use keeps taking all of them."""
    return {FORWARD: dict(routes)}


class GuardedRoute(APIRoute):
    """Every route's body goes through one reader: JSON is parsed and checked here, once (FastAPI and
    the route read the parsed value), and a JSON route refuses other content types with 415, or hands
    them to the route named for them (``forward_to``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_json = self.body_field is not None and not isinstance(self.body_field.field_info, params.Form)
        forwards: dict[str, str] = (self.openapi_extra or {}).get(FORWARD, {})
        found: dict[str, Callable[[Request], Coroutine[Any, Any, Response]]] = {}  # target path -> its handler

        async def guarded(request: Request) -> Response:
            if request.method in ("POST", "PUT", "PATCH"):
                content_type = request.headers.get("content-type", "")
                if is_json(content_type):
                    request._json = parse_json(await request.body())  # Request.json() returns it
                    stages.mark(stages.PARSE)
                elif takes_json:
                    target = forwards.get(content_type.split(";")[0].strip().lower())
                    if target is not None:
                        if target not in found:
                            found[target] = route_handler(request, target)
                        return await found[target](Request(request.scope, request.receive))
                    raise ApiError(
                        f"send the body as application/json, not {content_type or 'no content type'!r}", status=415
                    )
            return await handler(request)

        return guarded


def route_handler(request: Request, path: str) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """The handler of the app's POST route at ``path`` (a forward's target); included routers are
    searched too (FastAPI keeps them as routers, not as copies of their routes)."""
    pending = list(request.app.router.routes)
    while pending:
        route = pending.pop()
        inner = getattr(route, "original_router", None) or getattr(route, "routes", None)
        if isinstance(route, APIRoute):
            if route.path == path and "POST" in (route.methods or ()):
                return route.get_route_handler()
        elif inner is not None:
            pending.extend(inner.routes if hasattr(inner, "routes") else inner)
    raise LookupError(f"no POST route at {path} to forward to")


def install(app: FastAPI) -> None:
    """The handlers that turn every raised error into the one shape."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        return JSONResponse(status_code=422, content=error_body(explain(details), details))

    @app.exception_handler(store.NotFoundError)
    async def not_found(_: Request, exc: store.NotFoundError) -> JSONResponse:
        return error_response(404, str(exc))

    @app.exception_handler(store.StoreUnavailableError)
    async def store_down(_: Request, exc: store.StoreUnavailableError) -> JSONResponse:
        return error_response(503, str(exc), {"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 503:
            headers.setdefault("Retry-After", str(RETRY_AFTER_S))
        return error_response(exc.status_code, str(exc.detail), headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal error: it is logged on the server")
