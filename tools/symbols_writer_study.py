"""What moves symbols' accuracy on writers it never saw? Short trainings that differ in one knob,
each scored on the writer-disjoint split beside the fold's test; not a pipeline step.

Run from a checkout whose symbols data is prepared (`dvc repro symbols-validate`):

    .venv/bin/python tools/symbols_writer_study.py [--small] --epochs 3 --variant base --variant pen ...

A variant is a name in VARIANTS: params.yaml's `symbols.train`, as its first specialist trains, with a
few keys set. Every variant
trains the same network from the same seed for the same epochs, so the rows differ by the knob
alone (and by the noise of one seed: docs/experiments/ gives the spread). Prints one JSON line per
variant; the figures are the float network's (the served int8 model scores within 0.1 point).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from typing import Any

import numpy as np

from farga import components
from farga.precision import resolve_precision
from farga.symbols.prepare import WRITER_TEST, load_split
from farga.symbols.train import draw_weights, evaluate_split, fit, kept, start
from farga.tuning import with_values

WEIGHTS = (("raw", "val_"), ("averaged", "ema_val_"))  # the best epoch's figures of each, where fit kept both
GEOMETRY = {"shear": 0.15, "elastic": 0.04}
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},  # params.yaml's augmentation as it was: rotation, scale, shift
    "no-augment": {"augment.enabled": False},
    "geometry": {f"augment.{k}": v for k, v in GEOMETRY.items()},
    "pen": {"augment.pen": [0.1, 0.45]},
    "breaks": {"augment.breaks": 0.2},
    "all-augment": {
        **{f"augment.{k}": v for k, v in GEOMETRY.items()},
        "augment.pen": [0.1, 0.45],
        "augment.breaks": 0.2,
    },
    "fp32": {"precision": "fp32"},  # the step's arithmetic (the network's weights stay float32 in both)
    "bf16": {"precision": "bf16"},  # autocast: 2.2x a step's speed with AMX, slower without
    "pool-0.3": {"pool_weight": 0.3},
    "pool-0.1": {"pool_weight": 0.1},
    "pool-0.3-heavier-pen": {"pool_weight": 0.3, "augment.pen": [0.1, 0.3]},
    "all": {
        **{f"augment.{k}": v for k, v in GEOMETRY.items()},
        "augment.pen": [0.1, 0.45],
        "augment.breaks": 0.2,
        "pool_weight": 0.3,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), required=True)
    parser.add_argument("--seed", type=int, default=None, help="train.seed (default: params.yaml's)")
    parser.add_argument("--small", action="store_true", help="the quick profile's network (about 4x faster)")
    args = parser.parse_args()
    base = components.context("symbols")
    small = base.config.profiles["quick"]["train"]["model"] if args.small else {}
    for name in args.variant:
        sets = {"train.epochs": args.epochs, **{f"train.{k}": v for k, v in VARIANTS[name].items()}}
        sets |= {f"train.model.{k}": v for k, v in small.items()}
        sets |= {"train.seed": args.seed} if args.seed is not None else {}
        ctx = replace(base, config=with_values(base.config, sets))
        first = next(iter(ctx.config.train.specialists))
        cfg = ctx.config.train.of(first).model_copy(update={k: v for k, v in VARIANTS[name].items() if "." not in k})
        _, (x_train, y_train, rows), val, model = start(ctx, cfg)
        started = time.perf_counter()
        weights = draw_weights(cfg, ctx.config.data.writer_holdout.pools, rows)
        precision = resolve_precision(cfg.precision)
        state, history = fit(model, (x_train, y_train), val[:2], cfg, weights=weights, precision=precision)
        model.load_state_dict(state)
        scores: dict[str, Any] = {"variant": name, "epochs": args.epochs, "seed": cfg.seed, "precision": precision}
        for split in ("val", "test", WRITER_TEST):
            images, labels, _ = load_split(ctx.paths.prepared, split)
            scores |= {f"{split}_{k}": round(v, 4) for k, v in evaluate_split(model, images, labels).items()}
        scores["minutes"] = round((time.perf_counter() - started) / 60, 1)
        best = kept(history)
        scores |= {"best_epoch": int(best["epoch"]), "best_is_average": bool(best["averaged"])}
        scores |= {"epoch_seconds": round(float(np.mean([row["epoch_seconds"] for row in history])), 1)}
        scores |= {f"val_top1_{k}": round(max(row.get(f"{p}top1", 0.0) for row in history), 4) for k, p in WEIGHTS}
        print(json.dumps(scores), flush=True)


if __name__ == "__main__":
    main()
