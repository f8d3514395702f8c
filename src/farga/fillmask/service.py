"""The fillmask API: fill the ``<mask>`` markers of a Catalan sentence, and take the user's words."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException

from farga.fillmask.predictor import Predictor, TooLongError
from farga.fillmask.schemas import FeedbackRequest, FeedbackResponse, PredictRequest, PredictResponse
from farga.fillmask.text import FUNCTION_WORDS, MASK, split
from farga.serving import metrics
from farga.serving.app import ComponentService, component_router
from farga.serving.errors import UnavailableError
from farga.serving.models import LoadedModel, ModelSlot, ModelSource
from farga.serving.schemas import error_responses, feedback_link
from farga.serving.settings import ServeSettings
from farga.serving.store import FeedbackStore, Prediction

NAME = "fillmask"
STATIC = Path(__file__).parent / "static"
ERRORS = error_responses(
    {
        400: "the body is not readable JSON",
        413: "body over 1 MiB",
        415: "not application/json",
        422: "no <mask>, more than five, text over the limit, or fields of the wrong type",
        429: "over this client's rate limit (see Retry-After)",
        503: "no model loaded yet, or the prediction log is backed up (see Retry-After)",
    }
)


def smoke_test(loaded: LoadedModel) -> None:
    """A model must give each mask a probability distribution over its words."""
    predictor: Predictor = loaded.model
    (lp,) = predictor.log_probs([split(f"les cases són {MASK} .")])
    total = float(np.exp(lp).sum())
    if lp.shape != (1, len(predictor.vocab.words)) or abs(total - 1) > 1e-3:
        raise ValueError(f"model output is not a distribution over its words: shape {lp.shape}, sum {total:.4f}")


def loaded_predictor(slot: ModelSlot) -> tuple[LoadedModel, Predictor]:
    current = slot.current
    if current is None:
        raise UnavailableError("no fillmask model is loaded yet; try again shortly")
    return current, current.model


def build_router(slot: ModelSlot, store: FeedbackStore) -> APIRouter:
    router = component_router(NAME)

    @router.post(
        "/predict",
        response_model=PredictResponse,
        summary="Fill each <mask> of a Catalan sentence: the top-k words, best first",
        responses=ERRORS
        | feedback_link(
            NAME,
            {
                "prediction_id": "$response.body#/prediction_id",
                "words": ["$response.body#/masks/0/candidates/0/token"],
            },
        ),
    )
    def predict(body: PredictRequest) -> dict[str, Any]:
        loaded, predictor = loaded_predictor(slot)
        try:
            (log_probs,) = predictor.log_probs([split(body.text)])
        except TooLongError as exc:
            raise HTTPException(
                status_code=422,
                detail=f"the text is {exc.length} long; this model reads at most "
                f"{exc.limit} (about 40 words): shorten it around the <mask>",
            ) from None
        masks = [{"candidates": predictor.candidates(lp, body.top_k)} for lp in log_probs]
        top = [m["candidates"][0] for m in masks]
        prediction_id = store.log_prediction(
            component=NAME,
            model_name=loaded.name,
            model_version=loaded.version,
            model_run_id=loaded.info["run_id"],
            input_kind="text",
            input_json={"text": body.text, "top_k": body.top_k},
            input_blob=None,
            model_input=None,
            candidates=masks,
            top1=" | ".join(c["token"] for c in top)[:128],
            top1_score=min(c["score"] for c in top),
        )
        for c in top:
            word_class = "function_word" if c["token"].lower() in FUNCTION_WORDS else "content_word"
            metrics.PREDICTIONS.labels(NAME, loaded.version, word_class).inc()
            metrics.CONFIDENCE.labels(NAME).observe(c["score"])
        return {"prediction_id": prediction_id, "model": loaded.info, "masks": masks}

    @router.post(
        "/feedback",
        response_model=FeedbackResponse,
        summary="The words the user meant, one per <mask> of a prediction",
        operation_id=f"{NAME}_feedback",
        responses=error_responses(
            {
                400: "the body is not readable JSON",
                404: "no such prediction",
                415: "not application/json",
                422: "malformed id, or not one word per <mask>",
                429: "over this client's rate limit (see Retry-After)",
                503: "the database is not taking writes (see Retry-After)",
            }
        ),
    )
    async def feedback(body: FeedbackRequest) -> FeedbackResponse:

        def one_word_per_mask(row: Prediction) -> None:
            if len(body.words) != len(row.candidates):
                raise HTTPException(
                    status_code=422,
                    detail=f"the prediction had {len(row.candidates)} <mask> marker(s); send one word for each",
                )

        label = json.dumps(body.words, ensure_ascii=False)
        row = await store.add_feedback(NAME, body.prediction_id, label, check=one_word_per_mask)
        agreement = [
            metrics.count_feedback(NAME, word.lower(), [c["token"].lower() for c in mask["candidates"]])
            for word, mask in zip(body.words, row.candidates, strict=True)
        ]
        return FeedbackResponse(prediction_id=row.id, words=body.words, agreement=agreement, stored=True)  # type: ignore[arg-type]

    return router


def service(settings: ServeSettings, store: FeedbackStore) -> ComponentService:
    source = ModelSource(
        NAME,
        registry_uri=settings.resolved_tracking_uri(),
        model_dir=settings.model_dir(NAME),
        cache=settings.cache_dir(),
        threads=settings.threads,
        loader=Predictor.load,
    )
    slot = ModelSlot(source, smoke_test)
    return ComponentService(
        NAME, "type a Catalan sentence with <mask>, get the missing word", build_router(slot, store), slot, STATIC
    )
