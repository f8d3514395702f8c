"""What a load generator sends the symbols service (farga.loadgen, the benchmarks)."""

from __future__ import annotations

from farga.facts import Facts
from farga.symbols.schemas import FeedbackRequest, PredictResponse

# the drawing the benchmarks and the soak send: an A, two strokes
STROKES: Facts = {
    "strokes": [
        [{"x": 10 + 2 * i, "y": 80 - 3 * i} for i in range(24)],
        [{"x": 30 + 2 * i, "y": 50} for i in range(12)],
    ],
    "top_k": 5,
}


def feedback(answer: Facts) -> tuple[Facts, str]:
    """The last of the candidates as the user's answer: a class the served model knows."""
    predicted = PredictResponse.model_validate(answer)
    label = predicted.candidates[-1].latex
    body = FeedbackRequest(prediction_id=predicted.prediction_id, latex=label)
    return body.model_dump(mode="json", exclude_none=True), label
