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
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from farga import components
from farga.config import Settings
from farga.fillmask.fit import fit
from farga.fillmask.prepare import load_split
from farga.fillmask.scoring import examples
from farga.fillmask.train import build
from farga.precision import resolve_precision
from farga.reproducibility import seed_everything
from farga.tuning import with_values


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=6.0, help="the training budget (the schedule decays in it)")
    parser.add_argument("--fraction", type=float, default=1.0, help="share of the training lines (seeded)")
    parser.add_argument("--dev-words", type=int, default=1500, help="dev words scored after each epoch")
    parser.add_argument("--set", action="append", default=[], help="fillmask.train override, e.g. model.dim=192")
    args = parser.parse_args()
    ctx = components.context("fillmask", Settings(root=Path.cwd()))
    sets: dict[str, Any] = {}
    for assignment in args.set:
        path, sep, value = assignment.partition("=")
        if not sep:
            raise SystemExit(f"--set {assignment!r}: expected key.path=value")
        sets[f"train.{path}"] = yaml.safe_load(value)
    sets |= {"train.epochs": 100, "train.max_minutes": args.minutes}  # the budget decides
    cfg = with_values(ctx.config, sets).train  # a key the params lack, or a value they refuse, stops here
    seed_everything(cfg.seed, cfg.threads)
    lines = load_split(ctx.paths.prepared, "train")
    keep = np.random.default_rng(5).choice(len(lines), int(len(lines) * args.fraction), replace=False)
    built = build([lines[i] for i in sorted(keep)], cfg)
    dev = examples(load_split(ctx.paths.prepared, "dev"), args.dev_words, ctx.config.evaluate.seed + 1)
    precision = resolve_precision(cfg.precision, built.model.cfg.dim)
    _, history = fit(built.model, built.data, dev, built.cache, built.vocab, cfg, precision)
    print(json.dumps({"set": args.set, "minutes": args.minutes, "fraction": args.fraction, "epochs": history}))


if __name__ == "__main__":
    main()
