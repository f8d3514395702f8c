"""Labelled feedback: screened before it may train, exported in the training format.

Each sample is the model input the service saw (the 32x32 ink map), labelled with the symbol the
user chose, written as a HASYv2-layout archive; the writer id is one pseudonym for all feedback.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from farga.components import Facts
from farga.serving.store import FeedbackStore
from farga.symbols import catalogue
from farga.symbols.archive import HasyArchive, write_archive
from farga.symbols.monitoring import screen_feedback

FEEDBACK_WRITER = 0


def export_feedback(store: FeedbackStore, dest: Path, accepted_only: bool = True) -> Facts:
    """The archive of labelled feedback (only what screening or a reviewer accepted, by default).

    A drawing labelled more than once (the same ink map) keeps its latest label. The archive is
    byte-identical for identical feedback, so DVC re-runs nothing when no new feedback arrived.
    """
    known = catalogue.by_latex()
    latest: dict[str, tuple[str, np.ndarray, Any]] = {}
    without_input = 0
    for prediction in store.labelled("symbols", review="accepted" if accepted_only else "any"):
        if prediction.model_input is None:
            without_input += 1  # logged under FARGA_KEEP_INPUTS=false: the label has no drawing to learn from
            continue
        if prediction.feedback_label not in known:
            continue
        ink = np.frombuffer(prediction.model_input, dtype=np.uint8).reshape(32, 32)
        latest[hashlib.sha256(prediction.model_input).hexdigest()] = (prediction.id, ink, prediction.feedback_label)
    images: dict[str, np.ndarray] = {}
    rows = []
    for prediction_id, ink, label in latest.values():
        path = f"hasy-data/feedback-{prediction_id}.png"
        images[path] = 255 - ink  # HASYv2 layout: black ink on white
        sym = known[label]
        rows.append((path, sym.symbol_id, sym.latex, FEEDBACK_WRITER))
    labels = pd.DataFrame(rows, columns=["path", "symbol_id", "latex", "user_id"]).sort_values("path")
    ids = sorted(set(labels.symbol_id))
    symbols = pd.DataFrame({"symbol_id": ids, "latex": [catalogue.by_id()[i].latex for i in ids]})
    write_archive(dest, HasyArchive(labels, symbols, {}, images))
    result: Facts = {"samples": len(rows), "classes": len(ids), "archive": str(dest), "accepted_only": accepted_only}
    if without_input:
        result["skipped_without_input"] = without_input
        result["why"] = "stored without the drawing (FARGA_KEEP_INPUTS=false): such feedback cannot be trained on"
    return result


def screen(store: FeedbackStore, model_dir: Path, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Screen every feedback not reviewed yet: accept it, or quarantine it for a person to review."""
    pending = [p for p in store.labelled("symbols", review=None) if p.model_input is not None]
    verdicts = screen_feedback(
        model_dir,
        [bytes(p.model_input or b"") for p in pending],
        [str(p.feedback_label) for p in pending],
        cfg["quarantine"],
    )
    store.set_review(
        "symbols",
        {
            p.id: ("accepted", "") if v["accepted"] else ("quarantined", v["reason"])
            for p, v in zip(pending, verdicts, strict=True)
        },
    )
    return [
        {"prediction_id": p.id, "label": p.feedback_label, "model_top1": p.top1, **v}
        for p, v in zip(pending, verdicts, strict=True)
    ]
