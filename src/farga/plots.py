"""Figures people would rather look at than tables: learning curves, confusions, families."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def plot_learning_curves(history: Sequence[dict[str, float]], path: Path) -> Path:
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train (augmented, smoothed)")
    ax_loss.plot(epochs, [r["val_loss"] for r in history], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
    ax_acc.plot(epochs, [r["val_top1"] for r in history], "o-", label="top-1")
    ax_acc.plot(epochs, [r["val_top5"] for r in history], "o-", label="top-5")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Validation accuracy", ylim=(0, 1))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_confusion(matrix: np.ndarray, names: Sequence[str], path: Path, top: int = 30) -> Path:
    """The full row-normalised matrix (369 classes is too many to label) beside the worst pairs."""
    norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    off = norm.copy()
    np.fill_diagonal(off, 0)
    pairs = np.dstack(np.unravel_index(np.argsort(off, axis=None)[::-1][:top], off.shape))[0]
    fig, (ax_m, ax_p) = plt.subplots(1, 2, figsize=(16, 8), gridspec_kw={"width_ratios": [1.1, 1]})
    ax_m.imshow(norm, cmap="viridis", vmin=0, vmax=1)
    ax_m.set(title="Confusion matrix (row-normalised, classes by id)", xlabel="predicted", ylabel="true")
    labels = [f"{names[i]}  →  {names[j]}" for i, j in pairs]
    ax_p.barh(range(len(pairs))[::-1], [off[i, j] for i, j in pairs])
    ax_p.set_yticks(range(len(pairs))[::-1], labels, fontsize=8)
    ax_p.set(title=f"{top} most frequent confusions (share of the true class)", xlabel="share")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_bars(values: dict[str, Any], path: Path, title: str, xlabel: str = "top-1 accuracy") -> Path:
    names = list(values)
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.5))
    ax.barh(names[::-1], [values[n] for n in names][::-1])
    ax.set(title=title, xlabel=xlabel, xlim=(0, 1))
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
