"""The evaluation's picture: every predictor's accuracy overall, by word class, frequency band and genre."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def plot_comparison(scored: dict[str, dict[str, Any]], path: Path) -> Path:
    names = list(scored)
    first = scored[names[0]]
    groups: list[tuple[str, list[str]]] = [("overall top-1", ["top1"]), ("overall top-5", ["top5"])]
    groups += [
        (key.replace("_", " "), [family, key, "top1"])
        for family in ("by_class", "by_frequency", "by_genre")
        for key in first.get(family, {})
    ]

    def get(scores: dict[str, Any], path: list[str]) -> float:
        for step in path:
            scores = scores.get(step, {}) if isinstance(scores, dict) else {}
        return float(scores) if isinstance(scores, int | float) else 0.0

    fig, ax = plt.subplots(figsize=(16, 4.8))
    width = 0.8 / len(names)
    x = np.arange(len(groups))
    for i, name in enumerate(names):
        ax.bar(x + i * width, [get(scored[name], path) for _, path in groups], width, label=name)
    ax.set_xticks(x + width * (len(names) - 1) / 2, [g for g, _ in groups], rotation=20)
    ax.set(ylabel="accuracy (top-1 unless named)", ylim=(0, 1), title="Masked-word prediction on the validation split")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
