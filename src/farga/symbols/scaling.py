"""What `farga dev bench-scale symbols` trains: the full profile's network on generated drawings (anyone
can rerun it without HASYv2), and how its training rate is read from the run's own files."""

from __future__ import annotations

import json
from pathlib import Path

from farga.components import ScaleRun
from farga.config import deep_merge
from farga.facts import Facts

RUN = ScaleRun(
    what="symbols, full network, generated data", unit="images/s", score="best validation top-1", request="strokes"
)


def scale_params(section: Facts, epochs: int, threads: int) -> Facts:
    """The section on the full profile, 100 generated classes of 60 drawings by 8 writers; one
    specialist, the first (each trains alike)."""
    generated = {"source": "synthetic", "synthetic": {"classes": 100, "samples_per_class": 60, "writers": 8}}
    merged = deep_merge(
        section, {"profile": "full", "data": generated, "train": {"epochs": epochs, "threads": threads}}
    )
    first, recipe = next(iter(merged["train"]["specialists"].items()))
    merged["train"]["specialists"] = {first: recipe}
    return merged


def training_rate(root: Path) -> tuple[float, float]:
    """(training drawings per second after the first epoch, which pays for start-up; best validation top-1)."""
    (history_file,) = (root / "reports" / "symbols").glob("*/history.json")
    history = json.loads(history_file.read_text())
    size = json.loads((root / "data" / "prepared" / "symbols" / "prepare.json").read_text())["splits"]["train"]
    seconds = sum(row["epoch_seconds"] for row in history[1:]) / len(history[1:])
    return size / seconds, max(row["val_top1"] for row in history)
