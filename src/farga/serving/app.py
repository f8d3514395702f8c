"""The FastAPI application: shared endpoints, and each installed component's routes under /v1/<name>.

Components plug in through their ``service`` function, which returns a ``ComponentService``:
its router, its model slot, and its static files for the web page.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from farga import components
from farga.serving import metrics
from farga.serving.limits import BodyLimitMiddleware
from farga.serving.models import ModelSlot
from farga.serving.settings import ServeSettings
from farga.serving.store import FeedbackStore

log = logging.getLogger("farga.serving")
STATIC = Path(str(files("farga.serving").joinpath("static")))


@dataclass
class ComponentService:
    name: str
    summary: str
    router: APIRouter
    slot: ModelSlot
    static: Path | None = None


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


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    store = FeedbackStore(settings.resolved_database_url(), run_migrations=settings.migrate_on_start)
    services: dict[str, ComponentService] = {}
    for name in settings.component_names():
        component = components.get(name)
        if not component.has("service"):
            raise components.UnknownComponentError(f"component {name!r} has no service to serve")
        services[name] = component.call("service", settings, store)

    signal = reload_signal(settings)

    async def watch_registry() -> None:
        """Poll the registry every reload interval, and follow an admin reload made in any worker."""
        seen, last_poll = _mtime(signal), time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            changed = _mtime(signal) != seen
            due = settings.reload_interval_s > 0 and time.monotonic() - last_poll >= settings.reload_interval_s
            if changed or due:
                seen, last_poll = _mtime(signal), time.monotonic()
                for service in services.values():
                    await asyncio.to_thread(reload_slot, service)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for service in services.values():
            await asyncio.to_thread(reload_slot, service, True)
        store.start_writer()
        # Start-up objects (frameworks, models) live as long as the process: move them out of the
        # collector's sight, so a full collection scans only request garbage (it stalled requests for
        # tens of milliseconds scanning hundreds of thousands of start-up objects).
        gc.collect()
        gc.freeze()
        task = asyncio.create_task(watch_registry())
        yield
        task.cancel()
        await asyncio.to_thread(store.close)  # every logged prediction is written before exit

    app = FastAPI(
        title="Farga",
        version="1.0",
        summary="Production ML components: handwritten symbol → LaTeX (symbols), and more.",
        lifespan=lifespan,
    )
    app.state.settings, app.state.store, app.state.services = settings, store, services
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(metrics.LatencyMiddleware)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": explain(details), "errors": details})

    for service in services.values():
        # the prefix lives on the router itself, so route templates (metrics labels) are complete
        if service.router.prefix != f"/v1/{service.name}":
            raise ValueError(f"component {service.name!r} must route under /v1/{service.name}")
        app.include_router(service.router)
        if service.static is not None:
            app.mount(f"/static/{service.name}", StaticFiles(directory=service.static), name=f"static-{service.name}")
    app.mount("/static/app", StaticFiles(directory=STATIC), name="static-app")
    app.include_router(shared_routes(services, settings))
    return app


def explain(errors: Sequence[Mapping[str, Any]]) -> str:
    """One readable line from pydantic's validation errors: where, and what is wrong (first five)."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors[:5])


def reload_signal(settings: ServeSettings) -> Path:
    return settings.cache_dir() / ".reload-requested"


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns / 1e9
    except FileNotFoundError:
        return 0.0


def require_admin(settings: ServeSettings) -> Callable[[str | None], None]:
    def check(x_api_key: str | None = Header(default=None, description="the admin API key")) -> None:
        if not settings.api_key:
            raise HTTPException(status_code=403, detail="admin endpoints are disabled: set FARGA_API_KEY")
        if x_api_key != settings.api_key:
            raise HTTPException(status_code=401, detail="missing or wrong X-API-Key header")

    return check


def shared_routes(services: dict[str, ComponentService], settings: ServeSettings) -> APIRouter:
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
        summary="Readiness: every component has a model loaded",
        responses={503: {"description": "a component has no model loaded yet"}},
    )
    def readyz() -> JSONResponse:
        state = {
            name: {
                "loaded": s.slot.current is not None,
                "model": s.slot.current.info if s.slot.current else None,
                "last_error": s.slot.last_error,
            }
            for name, s in services.items()
        }
        ready = all(v["loaded"] for v in state.values())
        return JSONResponse(status_code=200 if ready else 503, content={"ready": ready, "components": state})

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
