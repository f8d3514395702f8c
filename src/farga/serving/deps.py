"""What a component's routes take from the service, as FastAPI dependencies: its champion and the store.

A route declares ``loaded: Model`` and ``store: Store`` and gets them per request; a missing model is
the shared 503, and store faults reach the shared exception handlers (errors.py). A component's
service.py then holds only its own routes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from farga.onnx_runtime import PrecisionChoice
from farga.serving.errors import UnavailableError
from farga.serving.models import LoadedModel, ModelSlot, ModelSource
from farga.serving.settings import ServeSettings
from farga.serving.store import FeedbackStore, PredictionRecord


async def feedback_store(request: Request) -> FeedbackStore:
    store: FeedbackStore = request.app.state.store
    return store


Store = Annotated[FeedbackStore, Depends(feedback_store)]


def pseudonym(key: str, identity: str) -> str:
    """64 bits of HMAC-SHA256: enough to tell clients apart, and no way back to the address without the key."""
    return hmac.new(key.encode(), identity.encode(), hashlib.sha256).hexdigest()[:16]


async def pseudonym_key(state: Any, store: FeedbackStore) -> str:
    """The deployment's secret pseudonyms are keyed with, read once per worker: the settings'
    ``client_salt`` if set, else the one the store drew on first start."""
    if getattr(state, "pseudonym_key", None) is None:
        configured = state.settings.client_salt.get_secret_value()
        state.pseudonym_key = configured or await asyncio.to_thread(store.client_secret)
    key: str = state.pseudonym_key
    return key


async def client_pseudonym(request: Request, store: Store) -> str | None:
    """The client (its identity: farga.serving.identity) keyed with the deployment's secret."""
    if request.client is None:
        return None
    return pseudonym(await pseudonym_key(request.app.state, store), request.client.host)


Client = Annotated[str | None, Depends(client_pseudonym)]


def model_slot(
    settings: ServeSettings,
    name: str,
    smoke_test: Callable[[LoadedModel], None],
    loader: Callable[[Any, int, PrecisionChoice], Any] | None = None,
) -> ModelSlot:
    """The slot that holds ``name``'s champion: from the registry, or from FARGA_MODEL_DIR_<NAME>."""
    source = ModelSource(
        name,
        registry_uri=settings.resolved_tracking_uri(),
        model_dir=settings.model_dir(name),
        cache=settings.cache_dir(),
        threads=settings.threads,
        precision=settings.precision,
        **({"loader": loader} if loader is not None else {}),
    )
    return ModelSlot(source, smoke_test)


def current_model(slot: ModelSlot) -> Callable[[], Awaitable[LoadedModel]]:
    """A dependency giving the slot's model as the request starts (a swap never changes it mid-request)."""

    async def current() -> LoadedModel:  # async: FastAPI runs a sync dependency on a thread
        loaded = slot.current
        if loaded is None:
            raise UnavailableError(f"no {slot.source.name} model is loaded yet; try again shortly")
        return loaded

    return current


def logged(
    store: FeedbackStore,
    loaded: LoadedModel,
    component: str,
    *,
    kind: str,
    input_json: object,
    blob: bytes | None,
    model_input: bytes | None,
    candidates: list[Any],
    top1: str,
    top1_score: float,
) -> str:
    """Log a prediction with the model that made it (queued, bounded: errors are the shared 503); its id."""
    return store.log_prediction(
        PredictionRecord(
            component=component,
            model_name=loaded.name,
            model_version=loaded.version,
            model_run_id=loaded.info["run_id"],
            input_kind=kind,
            input_json=input_json,
            input_blob=blob,
            model_input=model_input,
            candidates=candidates,
            top1=top1,
            top1_score=top1_score,
        )
    )
