"""Helpers shared by the tests: the repository root, and the shrunk params used everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from farga.config import Settings, StageContext, component_params

REPO = Path(__file__).resolve().parents[1]

SMALL = {"classes": 12, "samples_per_class": 30, "writers": 4, "seed": 3}


def tiny_params() -> dict[str, Any]:
    """The repository's params.yaml, shrunk to seconds: synthetic data, a small net, two epochs."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    sym = params["symbols"]
    sym["data"]["source"] = "synthetic"
    sym["data"]["synthetic"] = dict(SMALL)
    sym["train"].update(epochs=2, batch_size=32)
    sym["train"]["model"].update(channels=[8, 16, 32], hidden=32)
    return params


def make_ctx(root: Path, params: dict[str, Any]) -> StageContext:
    return StageContext("symbols", Settings(root=root), component_params(params, "symbols"), params)
