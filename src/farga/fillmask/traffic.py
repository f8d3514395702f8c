"""What a load generator sends the fillmask service (farga.loadgen)."""

from __future__ import annotations

import json
import random

from farga.facts import Facts
from farga.fillmask.schemas import FeedbackRequest, PredictResponse

SENTENCES = [
    "La capital de Catalunya és <mask> .",
    "El gat dorm a la <mask> de casa .",
    "Demà plourà a la <mask> i farà fred .",
    "Els nens juguen al <mask> després de l' escola .",
]


def request(rng: random.Random) -> Facts:
    return {"text": rng.choice(SENTENCES), "top_k": 5}


def feedback(answer: Facts) -> tuple[Facts, str]:
    """The last candidate of each mask as the user's words; the label as the store keeps them (JSON)."""
    predicted = PredictResponse.model_validate(answer)
    words = [mask.candidates[-1].token for mask in predicted.masks]
    body = FeedbackRequest(prediction_id=predicted.prediction_id, words=words)
    return body.model_dump(mode="json"), json.dumps(words, ensure_ascii=False)
