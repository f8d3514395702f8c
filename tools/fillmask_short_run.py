"""Does a change to the fillmask network help? A short training run to decide before a full one.

A full run takes the hour the issue allows; this trains the params.yaml network (with ``--set``
overrides of ``fillmask.train``) for a few minutes and prints dev top-1/top-5 after every epoch.
``--fraction`` trains on a seeded share of the training lines, so that a few minutes cover several
passes, the regime of the full run, where what a network remembers starts to matter.

Run from a checkout whose fillmask data is prepared (data/prepared/fillmask), e.g.:

    .venv/bin/python tools/fillmask_short_run.py --minutes 6 --fraction 0.08 --set model.dim=192
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from farga.config import Settings, StageContext
from farga.fillmask.prepare import load_split
from farga.fillmask.scoring import examples
from farga.fillmask.train import build, fit
from farga.reproducibility import seed_everything


def override(cfg: dict[str, Any], assignment: str) -> None:
    """``a.b=value`` (a YAML value) into ``cfg``; a key params.yaml does not have is an error."""
    path, sep, value = assignment.partition("=")
    if not sep:
        raise SystemExit(f"--set {assignment!r}: expected key.path=value")
    *parents, leaf = path.split(".")
    node = cfg
    for key in parents:
        node = node[key]
    if leaf not in node:
        raise SystemExit(f"--set {assignment!r}: fillmask.train has no {path}")
    node[leaf] = yaml.safe_load(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=6.0, help="the training budget (the schedule decays in it)")
    parser.add_argument("--fraction", type=float, default=1.0, help="share of the training lines (seeded)")
    parser.add_argument("--dev-words", type=int, default=1500, help="dev words scored after each epoch")
    parser.add_argument("--set", action="append", default=[], help="fillmask.train override, e.g. model.dim=192")
    args = parser.parse_args()
    ctx = StageContext.load("fillmask", Settings(root=Path.cwd()))
    cfg = copy.deepcopy(ctx.params["train"])
    for assignment in args.set:
        override(cfg, assignment)
    cfg["epochs"], cfg["max_minutes"] = 100, args.minutes  # the budget decides
    seed_everything(int(cfg["seed"]), int(cfg["threads"]))
    lines = load_split(ctx.paths.prepared, "train")
    keep = np.random.default_rng(5).choice(len(lines), int(len(lines) * args.fraction), replace=False)
    built = build([lines[i] for i in sorted(keep)], cfg)
    dev = examples(load_split(ctx.paths.prepared, "dev"), args.dev_words, int(ctx.params["evaluate"]["seed"]) + 1)
    _, history = fit(built.model, built.data, dev, built.cache, built.vocab, cfg)
    print(json.dumps({"set": args.set, "minutes": args.minutes, "fraction": args.fraction, "epochs": history}))


if __name__ == "__main__":
    main()
