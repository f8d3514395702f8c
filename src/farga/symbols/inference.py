"""Batched inference with an exported model: probabilities and embeddings for many ink maps at once."""

from __future__ import annotations

import numpy as np

from farga.onnx_runtime import OnnxModel
from farga.symbols.preprocess import to_model_input


def infer(model: OnnxModel, images: np.ndarray, batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(N, classes) probabilities and (N, hidden) embeddings of (N, 32, 32) uint8 ink maps."""
    probs, embeddings = [], []
    for start in range(0, len(images), batch):
        out = model.run(to_model_input(np.asarray(images[start : start + batch])))
        probs.append(out["probabilities"])
        embeddings.append(out["embedding"])
    if not probs:
        return np.empty((0, len(model.labels)), np.float32), np.empty((0, 0), np.float32)
    return np.concatenate(probs), np.concatenate(embeddings)


def symbol_ids(model: OnnxModel) -> np.ndarray:
    """The catalogue symbol id of each model output."""
    return np.array([int(c["symbol_id"]) for c in model.labels])
