"""What the symbols model is watched with: ink-map features, a reference sample stored with the
model, the drift samples ``farga ops monitor`` compares, and the screening of user labels.

The reference is the champion's own data: validation drawings (held out of the training fold) for
drift, because a model embeds and scores what it learnt from unlike anything new; a labelled
training sample for the nearest-neighbour check of user labels. Current traffic is the
ink maps the service logged, run through the same champion, so both sides are measured alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from farga.drift import Sample
from farga.onnx_runtime import OnnxModel, model_file
from farga.serving.store import FeedbackStore, PredictionRecord
from farga.symbols import catalogue
from farga.symbols.inference import infer, symbol_ids
from farga.symbols.params import Quarantine
from farga.symbols.preprocess import INK_THRESHOLD

REFERENCE = "reference.npz"
SIDE = 32
# "components" stands in for the stroke count: HASYv2 keeps no strokes, only images, so the reference
# can only count connected pieces of ink (a drawing of 3 separate strokes has up to 3)
FEATURES = ("ink_fraction", "bbox_width", "bbox_height", "centroid_x", "centroid_y", "components")


def ink_features(images: np.ndarray) -> pd.DataFrame:
    """One row of input features per (N, 32, 32) uint8 ink map."""
    mask: np.ndarray = np.asarray(images) >= INK_THRESHOLD
    n = len(mask)
    ink = mask.reshape(n, -1).sum(1)

    def extent(any_ink: np.ndarray) -> np.ndarray:
        first = any_ink.argmax(1)
        last = any_ink.shape[1] - 1 - any_ink[:, ::-1].argmax(1)
        return np.where(any_ink.any(1), last - first + 1, 0)

    axis = np.arange(SIDE)
    total = np.maximum(ink, 1)
    eight = np.ones((3, 3), dtype=bool)
    return pd.DataFrame(
        {
            "ink_fraction": ink / (SIDE * SIDE),
            "bbox_width": extent(np.asarray(mask.any(1))),
            "bbox_height": extent(np.asarray(mask.any(2))),
            "centroid_x": (mask.sum(1) * axis).sum(1) / total / SIDE,
            "centroid_y": (mask.sum(2) * axis).sum(1) / total / SIDE,
            "components": [ndimage.label(m, structure=eight)[1] for m in mask],
        }
    ).astype(float)


def latex_of(ids: np.ndarray, model: OnnxModel) -> np.ndarray:
    known = catalogue.with_learnt(model.labels)
    return np.array([known[int(i)].latex for i in ids], dtype=object)


def build_reference(
    model: OnnxModel,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray, np.ndarray],
    samples: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """The arrays saved as ``reference.npz``; ``train`` = (images, symbol ids), ``val`` = (images,
    the model's probabilities and embeddings for them: the caller has already run it on them).

    Drift is measured against validation drawings (held out of the training fold, so the model
    embeds and scores them as it will unseen traffic); label screening looks up training drawings.
    """
    rng = np.random.default_rng(seed)

    def sample(n: int) -> np.ndarray:
        return np.sort(rng.choice(n, size=min(samples, n), replace=False))

    images, ids = train
    val_images, val_probs, val_embedding = val
    pick_train, pick_val = sample(len(images)), sample(len(val_images))
    _, train_embedding = infer(model, np.asarray(images[pick_train]))
    features = ink_features(np.asarray(val_images[pick_val]))
    return {
        **{f"feature_{name}": features[name].to_numpy() for name in FEATURES},
        "embedding": val_embedding[pick_val].astype(np.float16),
        "top1": symbol_ids(model)[val_probs[pick_val].argmax(1)],
        "confidence": val_probs[pick_val].max(1),
        "train_embedding": train_embedding.astype(np.float16),
        "train_symbol_id": np.asarray(ids)[pick_train],
    }


def load_reference(model_dir: Path) -> dict[str, np.ndarray]:
    with np.load(model_file(model_dir, REFERENCE)) as data:
        return {k: data[k] for k in data.files}


def decode(inputs: list[bytes]) -> np.ndarray:
    """The logged model inputs (32x32 uint8 ink maps) as one array."""
    return np.stack([np.frombuffer(b, dtype=np.uint8).reshape(SIDE, SIDE) for b in inputs])


def replay(store: FeedbackStore, inks: np.ndarray) -> None:
    """Log ink maps as if the service had answered them (no answer recorded): how drawings from
    elsewhere (a dataset, a test) are put before ``farga ops monitor`` and the feedback screening."""
    for ink in inks:
        store.log_prediction(
            PredictionRecord(
                component="symbols",
                model_name="symbols",
                model_version="replayed",
                model_run_id=None,
                input_kind="image",
                input_json=None,
                input_blob=None,
                model_input=np.ascontiguousarray(ink, dtype=np.uint8).tobytes(),
                candidates=[],
                top1="",
                top1_score=0.0,
            )
        )


def drift_samples(model_dir: Path, inputs: list[bytes]) -> tuple[Sample, Sample]:
    """(reference, current) for the drift statistics, current = the logged inputs through the champion."""
    model, ref = OnnxModel.load(model_dir), load_reference(model_dir)
    inks = decode(inputs)
    probs, embedding = infer(model, inks)
    reference = Sample(
        features=pd.DataFrame({name: ref[f"feature_{name}"] for name in FEATURES}),
        embedding=ref["embedding"].astype(np.float32),
        prediction=latex_of(ref["top1"], model),
        confidence=ref["confidence"],
    )
    current = Sample(
        features=ink_features(inks),
        embedding=embedding,
        prediction=latex_of(symbol_ids(model)[probs.argmax(1)], model),
        confidence=probs.max(1),
    )
    return reference, current


def screen_feedback(model_dir: Path, inputs: list[bytes], labels: list[str], rules: Quarantine) -> list[dict[str, Any]]:
    """Flag labels that both the model and the nearest training drawings strongly contradict.

    A label is suspicious when the model gives it less than ``max_model_probability`` and at most
    ``max_neighbour_share`` of the ``neighbours`` closest training drawings (by embedding) carry it.
    Either signal alone is weak: the model is wrong on new kinds of drawing, which is why the user
    corrected it; neighbours are few for rare symbols.
    """
    from sklearn.neighbors import NearestNeighbors

    if not inputs:
        return []
    model, ref = OnnxModel.load(model_dir), load_reference(model_dir)
    probs, embedding = infer(model, decode(inputs))
    index = {int(i): n for n, i in enumerate(symbol_ids(model))}
    known = {s.latex: s for s in catalogue.with_learnt(model.labels).values()}
    k = min(rules.neighbours, len(ref["train_symbol_id"]))

    def unit(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        return np.asarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6))

    _, nearest = NearestNeighbors(n_neighbors=k).fit(unit(ref["train_embedding"])).kneighbors(unit(embedding))
    verdicts = []
    for row, label in enumerate(labels):
        if label not in known:  # a new symbol: no model can contradict it; admission counts people and asks TeX
            verdicts.append({"accepted": True, "model_probability": 0.0, "neighbour_share": 0.0, "reason": ""})
            continue
        sid = known[label].symbol_id
        p = float(probs[row, index[sid]]) if sid in index else 0.0
        share = float((ref["train_symbol_id"][nearest[row]] == sid).mean())
        suspicious = p < rules.max_model_probability and share <= rules.max_neighbour_share
        reason = (
            f"model gives {label} p={p:.3f}; {share:.0%} of the {k} nearest training drawings are {label}"
            if suspicious
            else ""
        )
        verdicts.append(
            {"accepted": not suspicious, "model_probability": p, "neighbour_share": share, "reason": reason}
        )
    return verdicts
