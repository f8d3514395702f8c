"""Labelled feedback: screened before it may train, exported in the training format.

Each sample is the model input the service saw (the 32x32 ink map), labelled with the symbol the
user chose, written as a HASYv2-layout archive; the writer id is one pseudonym for all feedback.
A label outside the catalogue becomes a class only when user_symbols.py admits it.
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
from farga.symbols.params import NewSymbols
from farga.symbols.user_symbols import USER_SYMBOLS, Named, admit, write_user_symbols

FEEDBACK_WRITER = 0


def export_feedback(store: FeedbackStore, dest: Path, rules: NewSymbols, accepted_only: bool = True) -> Facts:
    """The archive of labelled feedback (only what screening or a reviewer accepted, by default), and
    beside it the commands outside the catalogue that enough people drew (``user_symbols.csv``).

    A drawing labelled more than once (the same ink map) keeps its latest label. Drawings of a command
    not admitted yet stay in the store, counted in the result, and join once it is admitted. Both files
    are byte-identical for identical feedback, so DVC re-runs nothing when no new feedback arrived.
    """
    known = catalogue.by_latex()
    latest: dict[str, tuple[str, np.ndarray, Named]] = {}
    without_input = 0
    for prediction in store.labelled("symbols", review="accepted" if accepted_only else "any"):
        if prediction.model_input is None:
            without_input += 1  # logged under FARGA_KEEP_INPUTS=false: the label has no drawing to learn from
            continue
        ink = np.frombuffer(prediction.model_input, dtype=np.uint8).reshape(32, 32)
        named = Named(str(prediction.feedback_label), prediction.feedback_package, prediction.feedback_client)
        latest[hashlib.sha256(prediction.model_input).hexdigest()] = (prediction.id, ink, named)
    admission = admit((named for _, _, named in latest.values()), rules.min_drawings, rules.min_clients)
    ids = {s.latex: s.symbol_id for s in known.values()} | {s.latex: s.symbol_id for s in admission.admitted}
    images: dict[str, np.ndarray] = {}
    rows = []
    for prediction_id, ink, named in latest.values():
        if named.latex not in ids:
            continue  # a command not admitted (yet)
        path = f"hasy-data/feedback-{prediction_id}.png"
        images[path] = 255 - ink  # HASYv2 layout: black ink on white
        rows.append((path, ids[named.latex], named.latex, FEEDBACK_WRITER))
    labels = pd.DataFrame(rows, columns=["path", "symbol_id", "latex", "user_id"]).sort_values("path")
    symbols = labels[["symbol_id", "latex"]].drop_duplicates().sort_values("symbol_id").reset_index(drop=True)
    write_archive(dest, HasyArchive(labels, symbols, {}, images))
    write_user_symbols(dest.parent / USER_SYMBOLS, admission.admitted)
    result: Facts = {
        "samples": len(rows),
        "classes": len(symbols),
        "archive": str(dest),
        "accepted_only": accepted_only,
        "new_symbols": {s.latex: {"drawings": s.drawings, "clients": s.clients} for s in admission.admitted},
    }
    for key, said in (("waiting_symbols", admission.waiting), ("refused_symbols", admission.refused)):
        if said:  # what each lacks, or TeX's own error line: a reviewer sees why
            result[key] = {command: why for command, why in said.items()}
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
