"""The symbols API: predict from strokes or an uploaded image, take feedback, list the catalogue."""

import io
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, cast

import numpy as np
from fastapi import APIRouter, Depends, File, HTTPException, Response, UploadFile
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

from farga.components import ComponentService, component_router
from farga.serving import metrics, stages
from farga.serving.deps import Client, Store, current_model, logged, model_slot
from farga.serving.errors import forward_to
from farga.serving.models import LoadedModel, ModelSlot
from farga.serving.schemas import feedback_errors, feedback_link, predict_errors
from farga.serving.settings import ServeSettings
from farga.serving.store import FeedbackStore
from farga.symbols import catalogue, tex
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
IMAGE_TYPES = {"PNG", "JPEG"}
IMAGE_ROUTE = f"/v1/{NAME}/predict/image"


class ImageForm(BaseModel):
    """The multipart form of ``/predict/image`` (and of ``/predict``, which hands it there)."""

    model_config = ConfigDict(extra="forbid")

    image: UploadFile = Field(description=f"PNG or JPEG, at most {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}")
    top_k: int = Field(default=5, ge=1, le=TOP_K_MAX)


class Predictor:
    """Catalogue candidates from a model's outputs, each model's label descriptions made once."""

    def __init__(self) -> None:
        self._described: tuple[LoadedModel | None, list[dict[str, Any]]] = (None, [])

    def described(self, loaded: LoadedModel) -> list[dict[str, Any]]:
        """Each output of the model as the API's Candidate fields (but the score), made once per model."""
        model, described = self._described
        if model is not loaded:
            known = catalogue.with_learnt(loaded.model.labels)
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
                        "typst": sym.typst,
                        "origin": sym.origin,
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
    """A model must map a clean drawing to a valid probability vector over symbols it can describe:
    the catalogue's, or ones learnt from users that its labels describe in full."""
    known = catalogue.by_id()
    undescribed = [
        c["symbol_id"]
        for c in loaded.model.labels
        if int(c["symbol_id"]) not in known
        and not (c.get("origin") == "users" and tex.well_formed(str(c.get("latex")), c.get("package")) is None)
    ]
    if undescribed:
        raise ValueError(f"model labels neither in the catalogue nor described as learnt: {undescribed[:5]}")
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


def build_router(slot: ModelSlot) -> APIRouter:
    router = component_router(NAME)
    predictor = Predictor()
    Model = Annotated[LoadedModel, Depends(current_model(slot))]
    link = feedback_link(
        NAME, {"prediction_id": "$response.body#/prediction_id", "latex": "$response.body#/candidates/0/latex"}
    )

    def answer(
        loaded: LoadedModel,
        store: FeedbackStore,
        ink: np.ndarray,
        candidates: list[dict[str, Any]],
        **logged_input: Any,
    ) -> Response:
        """Log the prediction, count it, and serialise the answer (the route has timed its inference)."""
        prediction_id = logged(
            store,
            loaded,
            NAME,
            model_input=ink.tobytes(),
            candidates=candidates,
            top1=candidates[0]["latex"],
            top1_score=candidates[0]["score"],
            **logged_input,
        )
        threshold = loaded.model.calibration.get("threshold")
        sure = threshold is None or candidates[0]["score"] >= threshold
        metrics.PREDICTIONS.labels(NAME, loaded.version, candidates[0]["latex"]).inc()
        metrics.CONFIDENCE.labels(NAME).observe(candidates[0]["score"])
        if not sure:
            metrics.UNSURE.labels(NAME).inc()
        stages.mark("log")
        # serialised here: FastAPI would validate the response against PredictResponse once more
        body = {
            "prediction_id": prediction_id,
            "model": loaded.info,
            "candidates": candidates,
            "sure": sure,
            "threshold": threshold,
        }
        serialised = json.dumps(body, separators=(",", ":"))
        stages.mark("serialise")
        return Response(serialised, media_type="application/json")

    @router.post(
        "/predict",
        response_model=PredictResponse,
        summary="Recognise a drawn symbol from its strokes: the top-k LaTeX commands, best first",
        description=f"A multipart image sent here is answered by `{IMAGE_ROUTE}`.",
        responses=predict_errors(
            "the input cannot be read as JSON or as a drawing",
            "fields missing, of the wrong type or out of range",
            "neither JSON nor multipart/form-data",
        )
        | link,
        openapi_extra=forward_to({"multipart/form-data": IMAGE_ROUTE}),
    )
    async def predict(body: StrokesRequest, loaded: Model, store: Store) -> Response:
        stages.mark("validate")
        try:
            ink = render_strokes([[(p["x"], p["y"]) for p in stroke] for stroke in body.strokes])
        except ImageInputError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        stages.mark("render")
        candidates = predictor.candidates(loaded, ink, body.top_k)
        stages.mark("inference")
        return answer(loaded, store, ink, candidates, kind="strokes", input_json=body.strokes, blob=None)

    @router.post(
        "/predict/image",
        response_model=PredictResponse,
        summary="Recognise a symbol in an uploaded image (PNG or JPEG, either polarity): the top-k, best first",
        responses=predict_errors(
            "the upload is not a readable PNG or JPEG, too large, or has no ink",
            "the image missing, top_k out of range, or other form fields",
            "not multipart/form-data",
        ),
    )
    async def predict_image(form: Annotated[ImageForm, File()], loaded: Model, store: Store) -> Response:
        stages.mark("validate")
        blob = await form.image.read()
        try:
            ink = normalise_image(decode_image(blob))
        except ImageInputError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        stages.mark("decode")
        candidates = predictor.candidates(loaded, ink, form.top_k)
        stages.mark("inference")
        return answer(loaded, store, ink, candidates, kind="image", input_json=None, blob=blob)

    @router.post(
        "/feedback",
        response_model=FeedbackResponse,
        summary="The symbol the user meant, for a prediction",
        responses=feedback_errors("unknown symbol or malformed id"),
        operation_id=f"{NAME}_feedback",
    )
    async def feedback(body: FeedbackRequest, store: Store, client: Client) -> FeedbackResponse:
        known = {s.latex: s for s in known_symbols(slot).values()}
        if body.latex in known:
            expected = known[body.latex].package
            if body.package is not None and body.package != expected:
                needs = f"needs \\usepackage{{{expected}}}" if expected else "needs no package"
                raise HTTPException(status_code=422, detail=f"{body.latex} is in the catalogue and {needs}")
        elif problem := tex.well_formed(body.latex, body.package):
            raise HTTPException(status_code=422, detail=problem)
        new = body.latex not in known
        row = await store.add_feedback(
            NAME, body.prediction_id, body.latex, package=body.package if new else None, client=client
        )
        agreement = metrics.count_feedback(NAME, body.latex, [c["latex"] for c in row.candidates])
        return FeedbackResponse(
            prediction_id=row.id,
            latex=body.latex,
            agreement=agreement,  # type: ignore[arg-type]
            stored=True,
            new_symbol=new,
        )

    @router.get(
        "/classes",
        response_model=list[SymbolInfo],
        summary="The symbols it can recognise: the catalogue's, then any the served model learnt from users",
    )
    def classes() -> list[SymbolInfo]:
        return [symbol_info(s) for s in known_symbols(slot).values()]

    return router


def known_symbols(slot: ModelSlot) -> dict[int, catalogue.Symbol]:
    """The catalogue, and the classes the served model learnt from users (none while no model is loaded)."""
    loaded = slot.current
    return catalogue.with_learnt(loaded.model.labels) if loaded is not None else catalogue.by_id()


@lru_cache(maxsize=4096)  # bounded: the catalogue and the classes of the models served
def symbol_info(s: catalogue.Symbol) -> SymbolInfo:
    return SymbolInfo(
        symbol_id=s.symbol_id,
        latex=s.latex,
        package=s.package,
        usepackage=s.usepackage,
        mode=cast(Mode, s.mode),
        unicode=s.unicode,
        typst=s.typst,
        family=s.family,
        preview=s.unicode,
        origin=s.origin,
    )


def service(settings: ServeSettings, store: FeedbackStore) -> ComponentService:
    slot = model_slot(settings, NAME, smoke_test)
    return ComponentService(
        NAME,
        "draw a math symbol, get its LaTeX command",
        build_router(slot),
        slot,
        STATIC if STATIC.exists() else None,
    )
