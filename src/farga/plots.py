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
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in history], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
    ax_acc.plot(epochs, [r["val_top1"] for r in history], "o-", label="top-1")
    ax_acc.plot(epochs, [r["val_top5"] for r in history], "o-", label="top-5")
    averaged = [(r["epoch"], r["ema_val_top1"]) for r in history if "ema_val_top1" in r]
    if averaged:  # the weights' moving average, once it has started
        ax_acc.plot(*zip(*averaged, strict=True), "s--", label="top-1, averaged weights")
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


def plot_drift(reference: Any, current: Any, report: dict[str, Any], path: Path) -> Path:
    """Reference against current: each input feature, the confidence, the class mix and the embeddings."""
    from sklearn.decomposition import PCA

    names = list(reference.features.columns)
    n_panels = len(names) + 3
    cols = 3
    rows = -(-n_panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows))
    flat = list(axes.ravel())
    features = report["kinds"].get("input", {}).get("features", {})

    def histogram(ax: Any, ref: np.ndarray, cur: np.ndarray, title: str) -> None:
        bins = np.histogram_bin_edges(np.r_[ref, cur], bins=30)
        ax.hist(ref, bins=bins, density=True, alpha=0.5, label="reference")
        ax.hist(cur, bins=bins, density=True, alpha=0.5, label="current")
        ax.set_title(title, fontsize=9)

    for ax, name in zip(flat, names, strict=False):
        result = features.get(name, {})
        flag = " DRIFT" if result.get("drifted") else ""
        histogram(
            ax,
            reference.features[name].to_numpy(),
            current.features[name].to_numpy(),
            f"{name}: {result.get('score', float('nan')):.2f} sd{flag}",
        )
    conf = report["kinds"].get("confidence", {})
    histogram(
        flat[len(names)],
        reference.confidence,
        current.confidence,
        f"confidence: {conf.get('score', float('nan')):.2f} sd{' DRIFT' if conf.get('drifted') else ''}",
    )
    ax = flat[len(names) + 1]
    ref_mix = dict(zip(*np.unique(reference.prediction, return_counts=True), strict=True))
    cur_mix = dict(zip(*np.unique(current.prediction, return_counts=True), strict=True))
    top = sorted(cur_mix, key=lambda k: -cur_mix[k])[:8]
    x = np.arange(len(top))
    ax.bar(x - 0.2, [ref_mix.get(k, 0) / len(reference.prediction) for k in top], 0.4, label="reference")
    ax.bar(x + 0.2, [cur_mix[k] / len(current.prediction) for k in top], 0.4, label="current")
    ax.set_xticks(x, [k.replace("$", r"\$") for k in top], fontsize=7, rotation=45)  # as text: not all are mathtext
    pred = report["kinds"].get("prediction", {})
    ax.set_title(f"predicted class mix: JS {pred.get('score', float('nan')):.2f}", fontsize=9)
    ax = flat[len(names) + 2]
    pca = PCA(n_components=2).fit(reference.embedding)
    for sample, label in ((reference, "reference"), (current, "current")):
        xy = pca.transform(sample.embedding[:1000])
        ax.scatter(xy[:, 0], xy[:, 1], s=3, alpha=0.4, label=label)
    emb = report["kinds"].get("embedding", {})
    ax.set_title(f"embeddings (PCA): classifier AUC {emb.get('score', float('nan')):.2f}", fontsize=9)
    ax.legend(fontsize=8)
    for ax in flat[n_panels:]:
        ax.axis("off")
    fig.suptitle(f"drift: window of {len(current)} predictions against {len(reference)} reference samples")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
