"""How fast does this CPU train the fillmask network, in float32 and in bfloat16? A benchmark, not a
pipeline step: ``train.precision: auto`` makes the same choice from one matrix product at the start
of training; this times whole training steps of the params.yaml network on the prepared corpus.

Run from a checkout whose fillmask data is prepared (data/prepared/fillmask):

    .venv/bin/python tools/fillmask_train_bench.py [--steps 30] [--warmup 5] [--profile]

Each precision trains a fresh network on the same batches (seeded); the figures are seconds per step
(median and mean after the warm-up), tokens per second, and the product ``auto`` times. ``--profile``
adds where a step's time goes (torch.profiler, the operations that took longest, in the precision
``auto`` chooses), to find what to make faster.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from farga import components
from farga.config import Settings
from farga.fillmask.fit import make_optimizer, train_step
from farga.fillmask.loss import StepLoss, rival_proposal
from farga.fillmask.prepare import load_split
from farga.fillmask.train import build
from farga.fillmask.windows import batches
from farga.precision import product_seconds, resolve_precision
from farga.reproducibility import seed_everything


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per precision")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--profile", action="store_true", help="then profile the timed steps once more")
    args = parser.parse_args()
    ctx = components.context("fillmask", Settings(root=Path.cwd()))
    cfg = ctx.config.train
    seed_everything(cfg.seed, cfg.threads)
    train_lines = load_split(ctx.paths.prepared, "train")
    print(f"building the tokenizer, vocabulary and windows from {len(train_lines):,} training lines ...")
    built = build(train_lines, cfg)
    predict = cfg.predict_fraction if built.model.cloze else None  # as fit() draws them
    stream = batches(built.data, cfg.batch_tokens, cfg.mask_fraction, np.random.default_rng(0), predict)
    chosen = [batch for batch, _ in zip(stream, range(args.warmup + args.steps), strict=False)]
    proposal, draws, dim = rival_proposal(built.vocab), cfg.sampled_softmax, built.model.cfg.dim
    rows = []
    for precision in ("fp32", "bf16"):
        model = copy.deepcopy(built.model)  # the same starting weights for both
        opt = make_optimizer(model, cfg)
        loss_fn = StepLoss(model, proposal, draws, precision == "bf16")
        torch.manual_seed(cfg.seed)  # the same rivals drawn
        seconds = []
        for i, batch in enumerate(tqdm(chosen, desc=precision, unit="step")):
            started = time.perf_counter()
            train_step(loss_fn, opt, batch)
            if i >= args.warmup:
                seconds.append(time.perf_counter() - started)
        tokens = sum(b[0].numel() for b in chosen[args.warmup :])
        rows.append(
            (
                precision,
                statistics.median(seconds),
                statistics.mean(seconds),
                tokens / sum(seconds),
                product_seconds(torch.float32 if precision == "fp32" else torch.bfloat16, dim, reps=20) * 1e3,
            )
        )
    print(f"\n{args.steps} steps after {args.warmup} warm-up, {cfg.threads} threads, network dim {dim}\n")
    print("| precision | s/step (median) | s/step (mean) | padded tokens/s | 2048 x dim x 4dim product |")
    print("|---|---|---|---|---|")
    for precision, median, mean, rate, ms in rows:
        print(f"| {precision} | {median:.3f} | {mean:.3f} | {rate:,.0f} | {ms:.1f} ms |")
    chosen_precision = resolve_precision("auto", dim)
    print(f"\n`train.precision: auto` would choose {chosen_precision} here")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        model = copy.deepcopy(built.model)
        opt = make_optimizer(model, cfg)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for batch in chosen[args.warmup :]:
                train_step(model, opt, batch, proposal, draws, chosen_precision == "bf16")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
