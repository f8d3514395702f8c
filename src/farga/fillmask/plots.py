"""The evaluation's picture: every predictor's accuracy overall, by word class, frequency band and genre,
on the validation split and on the held-out sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

TITLES = {
    "val": "validation: documents unseen in training, from its sources",
    "unseen": "unseen_test: sources held out of training",
}


def plot_comparison(splits: dict[str, dict[str, dict[str, Any]]], path: Path) -> Path:
    """One row of bars per split (``val``, ``unseen``), every predictor side by side in each group."""
    fig, axes = plt.subplots(len(splits), 1, figsize=(16, 4.8 * len(splits)), squeeze=False)
    for ax, (split, scored) in zip(axes[:, 0], splits.items(), strict=True):
        names = list(scored)
        first = scored[names[0]]
        groups: list[tuple[str, list[str]]] = [("overall top-1", ["top1"]), ("overall top-5", ["top5"])]
        groups += [
            (key.replace("_", " "), [family, key, "top1"])
            for family in ("by_class", "by_frequency", "by_genre")
            for key in first.get(family, {})
        ]
        width = 0.8 / len(names)
        x = np.arange(len(groups))
        for i, name in enumerate(names):
            ax.bar(x + i * width, [_get(scored[name], path) for _, path in groups], width, label=name)
        ax.set_xticks(x + width * (len(names) - 1) / 2, [g for g, _ in groups], rotation=20)
        ax.set(ylabel="accuracy (top-1 unless named)", ylim=(0, 1), title=TITLES.get(split, split))
        ax.grid(axis="y", alpha=0.3)
        ax.legend()
    fig.suptitle("Masked-word prediction, every predictor on the same words")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _get(scores: dict[str, Any], path: list[str]) -> float:
    for step in path:
        scores = scores.get(step, {}) if isinstance(scores, dict) else {}
    return float(scores) if isinstance(scores, int | float) else 0.0
