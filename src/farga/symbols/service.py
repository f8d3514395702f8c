"""The symbols API: predict from strokes or an uploaded image, take feedback, list the catalogue."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, cast

import numpy as np
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from PIL import Image, UnidentifiedImageError
from pydantic import ValidationError

from farga.serving import metrics
from farga.serving.app import ComponentService, component_router
from farga.serving.errors import UnavailableError
from farga.serving.models import LoadedModel, ModelSlot, ModelSource
from farga.serving.schemas import error_responses, feedback_link
from farga.serving.settings import ServeSettings
from farga.serving.store import FeedbackStore
from farga.symbols import catalogue
from farga.symbols.preprocess import ImageInputError, normalise_image, to_model_input
from farga.symbols.schemas import (
    MAX_IMAGE_SIDE,
    TOP_K_MAX,
    FeedbackRequest,
    FeedbackResponse,
    Mode,
    PredictResponse,
    StrokesRequest,
    SymbolInfo,
)
from farga.symbols.strokes import render_strokes

NAME = "symbols"
STATIC = Path(__file__).parent / "static"
ERRORS = error_responses(
    {
        400: "the input cannot be read as JSON, a drawing or an image",
        413: "body over 1 MiB",
        415: "neither JSON nor multipart/form-data",
        422: "fields missing, of the wrong type or out of range",
        429: "over this client's rate limit (see Retry-After)",
        503: "no model loaded yet, or the prediction log is backed up (see Retry-After)",
    }
)
FEEDBACK_ERRORS = error_responses(
    {
        400: "the body is not readable JSON",
        404: "no such prediction",
        415: "not application/json",
        422: "unknown symbol or malformed id",
        429: "over this client's rate limit (see Retry-After)",
        503: "the database is not taking writes (see Retry-After)",
    }
)
IMAGE_TYPES = {"PNG", "JPEG"}


class Predictor:
    """Inference on the current model: preprocessed ink maps in, catalogue candidates out."""

    def __init__(self, slot: ModelSlot):
        self.slot = slot
        self._described: tuple[LoadedModel | None, list[dict[str, Any]]] = (None, [])

    def loaded(self) -> LoadedModel:
        current = self.slot.current
        if current is None:
            raise UnavailableError("no symbols model is loaded yet; try again shortly")
        return current

    def described(self, loaded: LoadedModel) -> list[dict[str, Any]]:
        """Each output of the model as the API's Candidate fields (but the score), made once per model."""
        model, described = self._described
        if model is not loaded:
            known = catalogue.by_id()
            described = []
            for label in loaded.model.labels:
                sym = known[int(label["symbol_id"])]
                described.append(
                    {
                        "latex": sym.latex,
                        "symbol_id": sym.symbol_id,
                        "package": sym.package,
                        "mode": sym.mode,
                        "unicode": sym.unicode,
                    }
                )
            self._described = (loaded, described)
        return described

    def candidates(self, loaded: LoadedModel, ink: np.ndarray, top_k: int) -> list[dict[str, Any]]:
        """The top-k as plain dicts in the ``Candidate`` schema (schemathesis checks the responses)."""
        probs = loaded.model.run(to_model_input(ink[None]))["probabilities"][0]
        order = np.argpartition(-probs, top_k - 1)[:top_k] if top_k < len(probs) else np.arange(len(probs))
        order = order[np.argsort(-probs[order], kind="stable")]
        described = self.described(loaded)
        return [described[i] | {"score": float(probs[i])} for i in order.tolist()]


def smoke_test(loaded: LoadedModel) -> None:
    """A model must map a clean drawing to a valid probability vector over catalogue symbols."""
    known = catalogue.by_id()
    unknown = [c["symbol_id"] for c in loaded.model.labels if int(c["symbol_id"]) not in known]
    if unknown:
        raise ValueError(f"model labels outside the catalogue: {unknown[:5]}")
    ink = render_strokes([[(0.0, 0.0), (1.0, 1.0)], [(0.0, 1.0), (1.0, 0.0)]])
    probs = loaded.model.run(to_model_input(ink[None]))["probabilities"]
    if probs.shape != (1, len(loaded.model.labels)) or not np.isfinite(probs).all() or abs(probs.sum() - 1) > 1e-3:
        raise ValueError(f"model output is not a probability vector over its labels: shape {probs.shape}")


def decode_image(data: bytes) -> np.ndarray:
    if not data:
        raise ImageInputError("the uploaded image is empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format not in IMAGE_TYPES:
                raise ImageInputError(f"the image must be PNG or JPEG, got {img.format}")
            if max(img.size) > MAX_IMAGE_SIDE:
                raise ImageInputError(
                    f"the image is {img.size[0]}x{img.size[1]}; at most {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}"
                )
            img.load()
            # grey and RGB arrays go to the preprocessing as they are (same result as through RGBA, less work)
            return np.asarray(img if img.mode in ("L", "RGB") else img.convert("RGBA"))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as exc:
        if isinstance(exc, ImageInputError):
            raise
        raise ImageInputError(f"the upload is not a readable PNG or JPEG image: {exc}") from exc


def parse_top_k(value: Any) -> int:
    try:
        top_k = int(str(value))
    except ValueError:
        raise HTTPException(
            status_code=422, detail=f"top_k must be an integer from 1 to {TOP_K_MAX}, got {value!r}"
        ) from None
    if not 1 <= top_k <= TOP_K_MAX:
        raise HTTPException(status_code=422, detail=f"top_k must be from 1 to {TOP_K_MAX}, got {top_k}")
    return top_k


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` inlined, to embed in an OpenAPI request body."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    inlined: dict[str, Any] = walk(schema)
    return inlined


def build_router(predictor: Predictor, store: FeedbackStore) -> APIRouter:
    router = component_router(NAME)
    strokes_schema = inline_refs(StrokesRequest.model_json_schema())
    multipart_schema = {
        "type": "object",
        "required": ["image"],
        "properties": {
            "image": {"type": "string", "format": "binary", "description": "PNG or JPEG, at most 1024x1024"},
            "top_k": {"type": "integer", "minimum": 1, "maximum": TOP_K_MAX, "default": 5},
        },
    }

    @router.post(
        "/predict",
        response_model=PredictResponse,
        summary="Recognise a drawn symbol: the top-k LaTeX commands, best first",
        responses=ERRORS
        | feedback_link(
            NAME, {"prediction_id": "$response.body#/prediction_id", "latex": "$response.body#/candidates/0/latex"}
        ),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": strokes_schema,
                        "examples": {"A": {"value": strokes_schema["examples"][0]}},
                    },
                    "multipart/form-data": {"schema": multipart_schema},
                },
            }
        },
    )
    async def predict(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        input_json: Any = None
        blob: bytes | None = None
        try:
            if content_type == "application/json":
                try:  # the shared guard has parsed and checked the JSON
                    strokes = StrokesRequest.model_validate(await request.json())
                except ValidationError as exc:
                    raise RequestValidationError(exc.errors()) from None
                top_k, kind = strokes.top_k, "strokes"
                ink = render_strokes([[(p.x, p.y) for p in stroke] for stroke in strokes.strokes])
                input_json = [[p.model_dump(exclude_none=True) for p in stroke] for stroke in strokes.strokes]
            elif content_type == "multipart/form-data":
                form = await request.form(max_files=1, max_fields=2)
                upload, extra = form.get("image"), set(form.keys()) - {"image", "top_k"}
                if upload is None or isinstance(upload, str):
                    raise HTTPException(status_code=422, detail="the form field 'image' must hold a PNG or JPEG file")
                if extra:
                    raise HTTPException(status_code=422, detail=f"unexpected form fields: {sorted(extra)}")
                top_k, kind = parse_top_k(form.get("top_k", 5)), "image"
                blob = await upload.read()
                ink = normalise_image(decode_image(blob))
            else:
                raise HTTPException(
                    status_code=415, detail="send application/json strokes or a multipart/form-data image"
                )
        except ImageInputError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        loaded = predictor.loaded()
        candidates = predictor.candidates(loaded, ink, top_k)
        info = loaded.info
        prediction_id = store.log_prediction(
            component=NAME,
            model_name=loaded.name,
            model_version=loaded.version,
            model_run_id=info["run_id"],
            input_kind=kind,
            input_json=input_json,
            input_blob=blob,
            model_input=ink.tobytes(),
            candidates=candidates,
            top1=candidates[0]["latex"],
            top1_score=candidates[0]["score"],
        )
        threshold = loaded.model.calibration.get("threshold")
        sure = threshold is None or candidates[0]["score"] >= threshold
        metrics.PREDICTIONS.labels(NAME, loaded.version, candidates[0]["latex"]).inc()
        metrics.CONFIDENCE.labels(NAME).observe(candidates[0]["score"])
        if not sure:
            metrics.UNSURE.labels(NAME).inc()
        # serialised here: FastAPI would validate the response against PredictResponse once more
        body = {
            "prediction_id": prediction_id,
            "model": info,
            "candidates": candidates,
            "sure": sure,
            "threshold": threshold,
        }
        return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")

    @router.post(
        "/feedback",
        response_model=FeedbackResponse,
        summary="The symbol the user meant, for a prediction",
        responses=FEEDBACK_ERRORS,
        operation_id=f"{NAME}_feedback",
    )
    async def feedback(body: FeedbackRequest) -> FeedbackResponse:
        if body.latex not in catalogue.by_latex():
            raise HTTPException(status_code=422, detail=f"{body.latex!r} is not a symbol of the catalogue")
        row = await store.add_feedback(NAME, body.prediction_id, body.latex)
        agreement = metrics.count_feedback(NAME, body.latex, [c["latex"] for c in row.candidates])
        return FeedbackResponse(prediction_id=row.id, latex=body.latex, agreement=agreement, stored=True)  # type: ignore[arg-type]

    @router.get("/classes", response_model=list[SymbolInfo], summary="The catalogue of recognisable symbols")
    def classes() -> list[SymbolInfo]:
        return CLASSES

    return router


CLASSES = [
    SymbolInfo(
        symbol_id=s.symbol_id,
        latex=s.latex,
        package=s.package,
        usepackage=s.usepackage,
        mode=cast(Mode, s.mode),
        unicode=s.unicode,
        family=s.family,
        preview=s.unicode,
    )
    for s in catalogue.symbols()
]


def service(settings: ServeSettings, store: FeedbackStore) -> ComponentService:
    source = ModelSource(
        NAME,
        registry_uri=settings.resolved_tracking_uri(),
        model_dir=settings.model_dir(NAME),
        cache=settings.cache_dir(),
        threads=settings.threads,
    )
    slot = ModelSlot(source, smoke_test)
    return ComponentService(
        NAME,
        "draw a math symbol, get its LaTeX command",
        build_router(Predictor(slot), store),
        slot,
        STATIC if STATIC.exists() else None,
    )
