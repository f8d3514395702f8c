"""How much of fillmask's validation text repeats training text? A study, not a pipeline step.

The corpus is exactly de-duplicated, but near-duplicates remain (help pages that repeat a sentence
with one word changed, boilerplate lines of news sites); a held-out line made of phrases the trigram
has counted is a line it can recall rather than predict. Per source, the share of validation lines
with at least half (and at least 80%) of their word 5-grams (sentence edges padded) somewhere in the
training split, and the share of the evaluation's masked words whose 5-word window (two words either
side) occurs in training as it is.

Run from a checkout whose fillmask data stages have run (data/prepared/fillmask):

    .venv/bin/python tools/fillmask_overlap_study.py
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from farga import components
from farga.config import Settings
from farga.fillmask.prepare import CORPUS
from farga.fillmask.scoring import examples
from farga.fillmask.text import split

EDGE = ["<s>", "<s>"]


def grams(words: list[str]) -> list[tuple[str, ...]]:
    padded = EDGE + words + EDGE
    return [tuple(padded[i : i + 5]) for i in range(len(padded) - 4)]


def main() -> None:
    ctx = components.context("fillmask", Settings(root=Path.cwd()))
    frame = pd.read_parquet(ctx.paths.prepared / CORPUS, columns=["text", "source", "split"])
    train = {g for line in frame.text[frame.split == "train"] for g in grams(split(line))}
    val = frame[frame.split == "val"]
    rows: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0])
    for line, source in zip(val.text, val.source, strict=True):
        found = np.mean([g in train for g in grams(split(line))])
        for key in (source, "all"):
            rows[key][0] += 1
            rows[key][1] += found >= 0.5
            rows[key][2] += found >= 0.8
    ev = ctx.config.evaluate
    masked = examples(val.text.tolist(), ev.positions, ev.seed)
    seen = np.mean([tuple((EDGE + ex.words + EDGE)[ex.position : ex.position + 5]) in train for ex in masked])

    table = Table(title="validation lines whose word 5-grams occur in the training split")
    for column in ("source", "lines", ">= 50% of 5-grams", ">= 80%"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for source, (n, half, most) in sorted(rows.items(), key=lambda kv: -kv[1][0]):
        table.add_row(source, f"{n:,}", f"{half / n:.1%}", f"{most / n:.1%}")
    console = Console()
    console.print(table)
    console.print(
        f"masked words of the evaluation whose 5-word window occurs in training: {seen:.1%} of {len(masked):,}"
    )


if __name__ == "__main__":
    main()
