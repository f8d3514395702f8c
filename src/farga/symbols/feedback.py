"""Labelled feedback, exported in the training format: a HASYv2-layout archive.

Each sample is the model input the service saw (the 32x32 ink map), labelled with the symbol the
user chose; the writer id is a stable pseudonym per prediction source (here: all "feedback").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from farga.serving.store import FeedbackStore
from farga.symbols import catalogue
from farga.symbols.archive import HasyArchive, write_archive

FEEDBACK_WRITER = 0


def export_feedback(store: FeedbackStore, dest: Path) -> dict[str, Any]:
    known = catalogue.by_latex()
    images: dict[str, np.ndarray] = {}
    rows = []
    for prediction in store.labelled("symbols"):
        if prediction.model_input is None or prediction.feedback_label not in known:
            continue
        ink = np.frombuffer(prediction.model_input, dtype=np.uint8).reshape(32, 32)
        path = f"hasy-data/feedback-{prediction.id}.png"
        images[path] = 255 - ink  # HASYv2 layout: black ink on white
        sym = known[prediction.feedback_label]
        rows.append((path, sym.symbol_id, sym.latex, FEEDBACK_WRITER))
    labels = pd.DataFrame(rows, columns=["path", "symbol_id", "latex", "user_id"])
    ids = sorted(set(labels.symbol_id))
    symbols = pd.DataFrame({"symbol_id": ids, "latex": [catalogue.by_id()[i].latex for i in ids]})
    write_archive(dest, HasyArchive(labels, symbols, {}, images))
    return {"samples": len(rows), "classes": len(ids), "archive": str(dest)}
