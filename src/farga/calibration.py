"""The "not sure" threshold: below it an answer is flagged, while its candidates are still listed.

Fitted on validation data, stored with the model: the lowest confidence whose answers at or above
it are right at least ``target_precision`` of the time. Reported on the test set as precision (how
often a confident answer is right) and coverage (how many answers are confident).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def fit_threshold(confidence: np.ndarray, correct: np.ndarray, target_precision: float) -> dict[str, Any]:
    """The threshold that keeps the most answers while their precision stays at ``target_precision``."""
    if not 0 < target_precision <= 1:
        raise ValueError(f"target_precision must be in (0, 1], got {target_precision}")
    if len(confidence) == 0:
        raise ValueError("cannot fit a confidence threshold on no validation samples")
    order = np.argsort(-confidence, kind="stable")
    conf, hits = confidence[order], correct[order].astype(float)
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    # only cut between distinct confidences: answers with equal confidence are kept or dropped together
    boundary = np.append(conf[1:] < conf[:-1], True)
    ok = np.flatnonzero((precision_at >= target_precision) & boundary)
    threshold = float(conf[ok[-1]]) if len(ok) else float(np.nextafter(conf[0], np.inf))
    return {"threshold": threshold, "target_precision": target_precision, **measure(confidence, correct, threshold)}


def measure(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> dict[str, Any]:
    """Precision and coverage of the answers at or above ``threshold``."""
    sure = confidence >= threshold
    return {
        "precision": float(correct[sure].mean()) if sure.any() else None,
        "coverage": float(sure.mean()) if len(sure) else 0.0,
        "n": len(confidence),
    }
