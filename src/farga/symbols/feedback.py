"""Labelled feedback: screened before it may train, exported in the training format.

Each sample is the model input the service saw (the 32x32 ink map), labelled with the symbol the
user chose, written as a HASYv2-layout archive; the writer id is one pseudonym for all feedback.
No client weighs more than ``feedback.max_per_client`` drawings of any class. A label outside the
catalogue is trained on only as a person approved it (user_symbols.py), or as the catalogue class
TeX renders it as (aliases.py).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from farga.facts import Facts
from farga.serving import ledger
from farga.serving.store import FeedbackStore, Prediction
from farga.symbols import catalogue
from farga.symbols.archive import HasyArchive, write_archive
from farga.symbols.monitoring import screen_feedback
from farga.symbols.params import Feedback, Quarantine
from farga.symbols.user_symbols import USER_SYMBOLS, Named, admission, write_user_symbols

FEEDBACK_WRITER = 0
NAME = "symbols"


def named(prediction: Prediction) -> Named:
    day = prediction.feedback_at.date() if prediction.feedback_at is not None else prediction.created_at.date()
    return Named(str(prediction.feedback_label), prediction.feedback_package, prediction.feedback_client, day)


def latest_drawings(
    store: FeedbackStore, reviews: tuple[str | None, ...]
) -> tuple[dict[str, tuple[str, np.ndarray, Named]], int]:
    """({ink hash: (prediction id, ink, label)}, how many labels came without a drawing): a drawing
    labelled more than once keeps its latest label."""
    latest: dict[str, tuple[str, np.ndarray, Named]] = {}
    without_input = 0
    for prediction in store.labelled(NAME):
        if prediction.model_input is None:
            without_input += 1  # logged under FARGA_KEEP_INPUTS=false: the label has no drawing to learn from
            continue
        if prediction.review not in reviews:
            continue
        ink = np.frombuffer(prediction.model_input, dtype=np.uint8).reshape(32, 32)
        latest[hashlib.sha256(prediction.model_input).hexdigest()] = (prediction.id, ink, named(prediction))
    return latest, without_input


def export_feedback(store: FeedbackStore, dest: Path, rules: Feedback, accepted_only: bool = True) -> Facts:
    """The archive of labelled feedback (only what screening or a reviewer accepted, by default), and
    beside it the commands outside the catalogue that a person approved (``user_symbols.csv``).

    Drawings of a command not approved yet stay in the store, counted in the result, and join once it
    is. A command a person refused is listed as refused; nothing one label does stops the export.
    Both files are byte-identical for identical feedback, so DVC re-runs nothing when none arrived.
    """
    reviews = ("accepted",) if accepted_only else ("accepted", "quarantined", "rejected", None)
    latest, without_input = latest_drawings(store, reviews)
    admitted = admission((n for _, _, n in latest.values()), rules.new_symbols, ledger.decisions(store, NAME))
    known = catalogue.by_latex()
    ids = {s.latex: s.symbol_id for s in known.values()} | {s.latex: s.symbol_id for s in admitted.admitted}
    ids |= {alias: known[target].symbol_id for alias, target in admitted.aliases.items() if target in known}
    images: dict[str, np.ndarray] = {}
    rows, per_client, capped = [], Counter[tuple[int, str | None]](), 0
    for prediction_id, ink, label in sorted(latest.values(), key=lambda item: item[0]):  # ids are time-ordered
        if label.latex not in ids:
            continue  # a command not approved (yet)
        symbol_id = ids[label.latex]
        per_client[symbol_id, label.client] += 1
        if per_client[symbol_id, label.client] > rules.max_per_client:
            capped += 1
            continue
        path = f"hasy-data/feedback-{prediction_id}.png"
        images[path] = 255 - ink  # HASYv2 layout: black ink on white
        latex = known[label.latex].latex if label.latex in known else admitted.aliases.get(label.latex, label.latex)
        rows.append((path, symbol_id, latex, FEEDBACK_WRITER))
    labels = pd.DataFrame(rows, columns=["path", "symbol_id", "latex", "user_id"]).sort_values("path")
    symbols = labels[["symbol_id", "latex"]].drop_duplicates().sort_values("symbol_id").reset_index(drop=True)
    write_archive(dest, HasyArchive(labels, symbols, {}, images))
    write_user_symbols(dest.parent / USER_SYMBOLS, admitted.admitted)
    result: Facts = {
        "samples": len(rows),
        "classes": len(symbols),
        "archive": str(dest),
        "accepted_only": accepted_only,
        "new_symbols": {s.latex: {"drawings": s.drawings, "clients": s.clients} for s in admitted.admitted},
    }
    if capped:
        result["over_client_cap"] = capped
    for key, said in (
        ("waiting_symbols", admitted.waiting),
        ("refused_symbols", admitted.refused),
        ("aliases", admitted.aliases),
    ):
        if said:  # what each lacks, or why it was refused: a reviewer sees why
            result[key] = dict(said)
    if without_input:
        result["skipped_without_input"] = without_input
        result["why"] = "stored without the drawing (FARGA_KEEP_INPUTS=false): such feedback cannot be trained on"
    return result


def screen(store: FeedbackStore, model_dir: Path, rules: Quarantine) -> list[dict[str, Any]]:
    """Screen every feedback not reviewed yet: accept it, or quarantine it for a person to review. A
    command outside the catalogue that TeX renders as a catalogue symbol is judged as that symbol."""
    from farga.symbols.aliases import record_aliases

    pending = [p for p in store.labelled(NAME, review=None) if p.model_input is not None]
    aliases = record_aliases(store, {str(p.feedback_label) for p in pending})
    labels = [aliases.get(str(p.feedback_label), str(p.feedback_label)) for p in pending]
    verdicts = screen_feedback(model_dir, [bytes(p.model_input or b"") for p in pending], labels, rules)
    store.set_review(
        NAME,
        {
            p.id: ("accepted", "") if v["accepted"] else ("quarantined", v["reason"])
            for p, v in zip(pending, verdicts, strict=True)
        },
    )
    return [
        {"prediction_id": p.id, "label": p.feedback_label, "model_top1": p.top1, **v}
        for p, v in zip(pending, verdicts, strict=True)
    ]
