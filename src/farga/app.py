"""The FastAPI application: shared endpoints, and each installed component's routes under /v1/<name>.

Components plug in through their ``service`` function, which returns a ``ComponentService``:
its router (made by ``component_router``, so its routes read bodies through the shared guard), its
model slot, and its static files for the web page. Errors, limits and faults are answered by shared
code (``errors``, ``limits``): a component's routes only raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from farga import components
from farga.components import ComponentService
from farga.serving import errors, metrics
from farga.serving.deps import pseudonym_key
from farga.serving.identity import ClientIdentityMiddleware
from farga.serving.limits import BodyLimitMiddleware, Rate, RateLimitMiddleware, ResponseHeadersMiddleware
from farga.serving.settings import ServeSettings
from farga.serving.shutdown import DRAINING
from farga.serving.store import FeedbackStore, StoreUnavailableError

log = logging.getLogger("farga.serving")
MISSING_MODEL_RETRY_S = 5.0
STATIC = Path(str(files("farga.serving").joinpath("static")))


def reload_slot(service: ComponentService, force: bool = False) -> dict[str, Any]:
    previous = service.slot.current
    result = service.slot.reload(force=force)
    outcome = "error" if "error" in result else "swapped" if result["changed"] else "unchanged"
    metrics.RELOADS.labels(service.name, outcome).inc()
    current = service.slot.current
    if result.get("changed") and current is not None:
        if previous is not None:
            metrics.MODEL_INFO.labels(service.name, previous.version, str(previous.info["run_id"])).set(0)
        metrics.MODEL_INFO.labels(service.name, current.version, str(current.info["run_id"])).set(1)
    metrics.MODEL_LOADED.labels(service.name).set(1 if current is not None else 0)
    return result


def served_components(settings: ServeSettings) -> list[str]:
    """FARGA_COMPONENTS as named, in that order; else every installed component with a service, each
    where it asks to be (its ``page_order``)."""
    named = [c.strip() for c in settings.components.split(",") if c.strip()]
    if named:
        return named
    return [name for name in components.in_page_order() if isinstance(components.get(name), components.Serves)]


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    # a registry that does not answer fails a poll in seconds, not after MLflow's minutes of retries
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    store = FeedbackStore(
        settings.resolved_database_url(),
        run_migrations=settings.migrate_on_start,
        max_pending=settings.log_queue_rows,
        max_pending_bytes=settings.log_queue_mb << 20,
        keep_inputs=settings.keep_inputs,
    )
    services: dict[str, ComponentService] = {}
    for name in served_components(settings):
        component = components.get(name)
        if not isinstance(component, components.Serves):
            raise components.lacking(name, "service to serve")
        services[name] = component.service(settings, store)

    signal = reload_signal(settings)

    async def watch_registry(seen: float) -> None:
        """Poll the registry every reload interval, and follow an admin reload made in any worker
        (``seen``: the signal's time before this worker's first load, so that a reload asked for while
        it was starting is followed too). A component with no model yet (the registry did not answer
        at start) is retried every few seconds whatever the interval: the service is not ready until
        it has one, and never exits."""
        last_poll = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            changed = _mtime(signal) != seen
            interval = settings.reload_interval_s
            if any(s.slot.current is None for s in services.values()):
                interval = min(interval, MISSING_MODEL_RETRY_S) if interval > 0 else MISSING_MODEL_RETRY_S
            due = interval > 0 and time.monotonic() - last_poll >= interval
            if changed or due:
                seen, last_poll = _mtime(signal), time.monotonic()
                for service in services.values():
                    await asyncio.to_thread(reload_slot, service)

    @contextlib.asynccontextmanager
    async def lifespan(started: FastAPI) -> AsyncIterator[None]:
        # The first load is waited for a while, not for ever: a registry that does not answer leaves
        # the service live (and not ready) while the load goes on and watch_registry retries.
        seen = _mtime(signal)
        first = asyncio.gather(*(asyncio.to_thread(reload_slot, s, True) for s in services.values()))
        try:
            await asyncio.wait_for(asyncio.shield(first), settings.startup_wait_s)
        except TimeoutError:
            log.warning(
                "models not loaded after %.0f s: serving, not ready, while loading goes on", settings.startup_wait_s
            )
        store.start_writer()
        with contextlib.suppress(StoreUnavailableError):  # read before any request; if the database is down
            await pseudonym_key(started.state, store)  # now, the first feedback asks again
        # Start-up objects (frameworks, models) live as long as the process: move them out of the
        # collector's sight, so a full collection scans only request garbage (it stalled requests for
        # tens of milliseconds scanning hundreds of thousands of start-up objects).
        gc.collect()
        gc.freeze()
        task = asyncio.create_task(watch_registry(seen))
        yield
        task.cancel()
        # every logged prediction is written before exit, unless the database does not take them in time
        await asyncio.to_thread(store.close, settings.shutdown_timeout_s / 2)

    app = FastAPI(
        title="Farga",
        version="1.0",
        summary="Production ML components: " + "; ".join(f"{s.name}: {s.summary}" for s in services.values()),
        lifespan=lifespan,
    )
    app.state.settings, app.state.store, app.state.services = settings, store, services
    # the last added runs first: headers on every answer, latency of every answer, who the client is,
    # the rate limit before the body is read, the body read whole and bounded before any route
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s)
    app.add_middleware(
        RateLimitMiddleware,
        rates={
            "predict": Rate(settings.rate_predict_per_s, settings.rate_predict_burst),
            "feedback": Rate(settings.rate_feedback_per_s, settings.rate_feedback_burst),
        },
        costs={"image": settings.rate_image_cost},
    )
    app.add_middleware(ClientIdentityMiddleware, forwarded_allow_ips=settings.forwarded_allow_ips)
    app.add_middleware(metrics.LatencyMiddleware)
    app.add_middleware(ResponseHeadersMiddleware)
    errors.install(app)

    for service in services.values():
        # the prefix lives on the router itself, so route templates (metrics labels) are complete
        if service.router.prefix != f"/v1/{service.name}":
            raise ValueError(f"component {service.name!r} must route under /v1/{service.name}")
        unguarded = [getattr(r, "path", r) for r in service.router.routes if not isinstance(r, errors.GuardedRoute)]
        if unguarded:
            raise ValueError(f"component {service.name!r}: make its router with component_router ({unguarded})")
        app.include_router(service.router)
        if service.static is not None:
            app.mount(f"/static/{service.name}", StaticFiles(directory=service.static), name=f"static-{service.name}")
    app.mount("/static/app", StaticFiles(directory=STATIC), name="static-app")
    app.include_router(shared_routes(services, settings, store))
    return app


def reload_signal(settings: ServeSettings) -> Path:
    return settings.cache_dir() / ".reload-requested"


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns / 1e9
    except FileNotFoundError:
        return 0.0


def require_admin(settings: ServeSettings) -> Callable[[str | None], None]:
    def check(x_api_key: str | None = Header(default=None, description="the admin API key")) -> None:
        key = settings.api_key.get_secret_value()
        if not key:
            raise HTTPException(status_code=403, detail="admin endpoints are disabled: set FARGA_API_KEY")
        if not hmac.compare_digest((x_api_key or "").encode(), key.encode()):  # constant time
            raise HTTPException(status_code=401, detail="missing or wrong X-API-Key header")

    return check


def shared_routes(services: dict[str, ComponentService], settings: ServeSettings, store: FeedbackStore) -> APIRouter:
    router = APIRouter()

    @router.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @router.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: every component has a model loaded, the database takes writes, not shutting down",
        responses={503: {"description": "a component has no model loaded yet, or the database is not taking writes"}},
    )
    def readyz() -> JSONResponse:
        state = {
            name: {
                "loaded": s.slot.current is not None,
                "model": s.slot.current.info if s.slot.current else None,
                # the kind of failure only: messages can name hosts and paths (the log has them whole)
                "last_error": s.slot.last_error.split(":")[0] if s.slot.last_error else None,
            }
            for name, s in services.items()
        }
        database = store.probe()
        draining = DRAINING.is_set()
        ready = all(v["loaded"] for v in state.values()) and database is None and not draining
        content = {
            "ready": ready,
            "draining": draining,
            "components": state,
            "database": {"ok": database is None, "problem": database, "log_backlog": store.backlog},
        }
        return JSONResponse(status_code=200 if ready else 503, content=content)

    @router.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response)
    def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(content=body, media_type=content_type)

    @router.get("/v1/components", tags=["operations"], summary="The components this service hosts")
    def list_components() -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "summary": s.summary,
                "model": s.slot.current.info if s.slot.current else None,
                "page": f"/static/{name}/tab.js" if s.static else None,
            }
            for name, s in services.items()
        ]

    @router.post(
        "/v1/admin/reload/{component}",
        tags=["operations"],
        summary="Load the registry's champion now (load beside, smoke-test, swap)",
        dependencies=[Depends(require_admin(settings))],
        responses={
            401: {"description": "wrong or missing API key"},
            403: {"description": "admin disabled"},
            404: {"description": "no such component"},
        },
    )
    def admin_reload(component: str) -> dict[str, Any]:
        if component not in services:
            raise HTTPException(status_code=404, detail=f"no component {component!r}; serving {sorted(services)}")
        result = reload_slot(services[component], force=False)
        signal = reload_signal(settings)  # the other workers follow within a second
        signal.parent.mkdir(parents=True, exist_ok=True)
        signal.touch()
        return result

    return router
