"""The fillmask API: fill the ``<mask>`` markers of a Catalan sentence, and take the user's words."""

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException

from farga.components import ComponentService, component_router
from farga.fillmask.predictor import Predictor, TooLongError
from farga.fillmask.schemas import FeedbackRequest, FeedbackResponse, PredictRequest, PredictResponse
from farga.fillmask.text import FUNCTION_WORDS, MASK, split
from farga.serving import metrics, stages
from farga.serving.deps import Store, current_model, logged, model_slot
from farga.serving.models import LoadedModel, ModelSlot
from farga.serving.schemas import feedback_errors, feedback_link, predict_errors
from farga.serving.settings import ServeSettings
from farga.serving.store import FeedbackStore, Prediction

NAME = "fillmask"
STATIC = Path(__file__).parent / "static"


def smoke_test(loaded: LoadedModel) -> None:
    """A model must give each mask a probability distribution over its words."""
    predictor: Predictor = loaded.model
    (lp,) = predictor.log_probs([split(f"les cases són {MASK} .")])
    total = float(np.exp(lp).sum())
    if lp.shape != (1, len(predictor.vocab.words)) or abs(total - 1) > 1e-3:
        raise ValueError(f"model output is not a distribution over its words: shape {lp.shape}, sum {total:.4f}")


def build_router(slot: ModelSlot) -> APIRouter:
    router = component_router(NAME)
    Model = Annotated[LoadedModel, Depends(current_model(slot))]

    @router.post(
        "/predict",
        response_model=PredictResponse,
        summary="Fill each <mask> of a Catalan sentence: the top-k words, best first",
        responses=predict_errors(
            "the body is not readable JSON",
            "no <mask>, more than five, text over the limit, or fields of the wrong type",
        )
        | feedback_link(
            NAME,
            {
                "prediction_id": "$response.body#/prediction_id",
                "words": ["$response.body#/masks/0/candidates/0/token"],
            },
        ),
    )
    def predict(body: PredictRequest, loaded: Model, store: Store) -> dict[str, Any]:
        stages.mark("validate")
        predictor: Predictor = loaded.model
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
        stages.mark("inference")
        prediction_id = logged(
            store,
            loaded,
            NAME,
            kind="text",
            input_json={"text": body.text, "top_k": body.top_k},
            blob=None,
            model_input=None,
            candidates=masks,
            top1=" | ".join(c["token"] for c in top)[:128],
            top1_score=min(c["score"] for c in top),
        )
        for c in top:
            word_class = "function_word" if c["token"].lower() in FUNCTION_WORDS else "content_word"
            metrics.PREDICTIONS.labels(NAME, loaded.version, word_class).inc()
            metrics.CONFIDENCE.labels(NAME).observe(c["score"])
        stages.mark("log")  # FastAPI validates and serialises the answer after this: "respond"
        return {"prediction_id": prediction_id, "model": loaded.info, "masks": masks}

    @router.post(
        "/feedback",
        response_model=FeedbackResponse,
        summary="The words the user meant, one per <mask> of a prediction",
        operation_id=f"{NAME}_feedback",
        responses=feedback_errors("malformed id, or not one word per <mask>"),
    )
    async def feedback(body: FeedbackRequest, store: Store) -> FeedbackResponse:

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
    slot = model_slot(settings, NAME, smoke_test, Predictor.load)
    return ComponentService(
        NAME, "type a Catalan sentence with <mask>, get the missing word", build_router(slot), slot, STATIC
    )
