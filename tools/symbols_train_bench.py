"""Where a symbols training step's time goes on this CPU, and what the free changes buy (issue 37, item 3).

The full profile's network, optimiser, batch and augmentation (params.yaml), on generated 32x32 binary
drawings of 369 classes: a step's cost does not depend on what is drawn, so anyone can rerun it without
HASYv2. Every variant is timed over the same batches after a warm-up, in one run, so the figures compare:

    .venv/bin/python tools/symbols_train_bench.py --steps 40 --out reports/scale/symbols-train-step.json

Variants: as trained (channels-last), plain NCHW memory, one intra-op thread, bfloat16 autocast (fast only
where the CPU multiplies bfloat16 natively, AMX), and the step compiled with ``torch.compile`` (its compile
time reported apart: it pays only if a run's steps save more).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from farga import components, cpu
from farga.symbols.augment import augment
from farga.symbols.model import CNNConfig, SymbolCNN
from farga.symbols.params import Train

STAGES = ("input", "augment", "forward", "backward", "optimiser")


def batches(n: int, size: int, classes: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        ((rng.random((size, 32, 32)) > 0.85).astype(np.uint8) * 255, rng.integers(0, classes, size)) for _ in range(n)
    ]


def timed_steps(
    cfg: Train, data: list[tuple[np.ndarray, np.ndarray]], memory: torch.memory_format, compiled: bool, bf16: bool
) -> dict[str, float]:
    torch.manual_seed(0)
    model = SymbolCNN(CNNConfig.from_params(369, cfg.model)).to(memory_format=memory)
    step_model: Callable[[torch.Tensor], torch.Tensor] = model
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(0)
    compile_s = 0.0
    if compiled:
        started = time.perf_counter()
        step_model = torch.compile(model)
        x = torch.zeros(cfg.batch_size, 1, 32, 32).contiguous(memory_format=memory)
        step_model(x).sum().backward()  # type: ignore[no-untyped-call]
        opt.zero_grad(set_to_none=True)
        compile_s = time.perf_counter() - started
    spent = dict.fromkeys(STAGES, 0.0)
    model.train()
    for i, (images, labels) in enumerate(data):
        t0 = time.perf_counter()
        x = torch.from_numpy(images).float().div_(255.0).unsqueeze(1).contiguous(memory_format=memory)
        y = torch.from_numpy(labels)
        t1 = time.perf_counter()
        x = augment(x, cfg.augment, gen).contiguous(memory_format=memory)
        t2 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = step_model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        t3 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        t4 = time.perf_counter()
        opt.step()
        t5 = time.perf_counter()
        if i >= 3:  # warm-up: allocator, kernels chosen
            for stage, seconds in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                spent[stage] += seconds
    steps = len(data) - 3
    total = sum(spent.values())
    return {
        "images_per_s": round(steps * cfg.batch_size / total, 1),
        **{f"{stage}_ms": round(1000 * seconds / steps, 2) for stage, seconds in spent.items()},
        "compile_s": round(compile_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    args = parser.parse_args()
    cfg = components.context("symbols").config.train
    data = batches(args.steps + 3, cfg.batch_size, 369)
    variants: dict[str, tuple[int, torch.memory_format, bool, bool]] = {
        "as trained (channels-last, 2 threads)": (cfg.threads, torch.channels_last, False, False),
        "NCHW memory": (cfg.threads, torch.contiguous_format, False, False),
        "one intra-op thread": (1, torch.channels_last, False, False),
        "bfloat16 autocast (channels-last)": (cfg.threads, torch.channels_last, False, True),
    }
    if not args.no_compile:
        variants["torch.compile (channels-last)"] = (cfg.threads, torch.channels_last, True, False)
    results = {}
    for name, (threads, memory, compiled, bf16) in variants.items():
        torch.set_num_threads(threads)
        results[name] = timed_steps(cfg, data, memory, compiled, bf16)
        print(f"{name:40s} {results[name]}", flush=True)
    report = {"machine": cpu.describe().to_json(), "batch": cfg.batch_size, "steps": args.steps, "variants": results}
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
