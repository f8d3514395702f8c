"""Which precision trains here: bfloat16 only where this CPU measurably multiplies it faster.

Shared by every component that trains in torch: with AMX a bf16 step is about twice as fast (symbols)
or more (fillmask); without native bf16 it is slower than float32, so ``auto`` measures rather than
assumes, and a restarted run keeps the precision its checkpoint was trained at."""

from __future__ import annotations

import time
from typing import Any, Literal

import torch

from farga.distributed import Checkpoint

Precision = Literal["bf16", "fp32"]
Choice = Literal["auto", "bf16", "fp32"]


def resolve_precision(precision: Choice, dim: int = 512) -> Precision:
    """``auto`` -> bf16 where this CPU multiplies bfloat16 matrices clearly faster than float32 (with AMX:
    several times), else fp32: AVX-512 BF16 alone can be slower than float32, as on some cloud VMs.
    ``dim`` is the network's width where its layers are matrix products; a convolutional network's
    layers are not, and the default measures this CPU, not a tiny test network's noise."""
    if precision != "auto":
        return precision
    return "bf16" if product_seconds(torch.bfloat16, dim) * 1.2 < product_seconds(torch.float32, dim) else "fp32"


def product_seconds(dtype: torch.dtype, dim: int, reps: int = 5) -> float:
    """Mean time of a (2048 x dim) @ (dim x 4 dim) product in ``dtype``: the shape of a feed-forward
    layer, what ``auto`` compares."""
    a, b = torch.randn(2048, dim, dtype=dtype), torch.randn(dim, 4 * dim, dtype=dtype)
    a @ b  # warm-up
    started = time.perf_counter()
    for _ in range(reps):
        a @ b
    return (time.perf_counter() - started) / reps


def precision_here(checkpoint: Checkpoint, resumed: dict[str, Any] | None, choice: Choice, dim: int = 512) -> Precision:
    """The precision of this run, the same on every worker. A restart goes on at the precision its
    checkpoint was trained at: ``auto`` measures anew, and on a loaded machine may choose otherwise
    (MLflow then refuses the resumed run's changed parameter)."""
    joined = checkpoint.workers
    chosen = checkpoint.folder / "precision.txt"
    earlier = chosen.read_text().strip() if resumed is not None and chosen.exists() else None
    precision = joined.from_main(earlier or resolve_precision(choice, dim))
    if joined.main:
        chosen.parent.mkdir(parents=True, exist_ok=True)
        chosen.write_text(precision)
    return "bf16" if precision == "bf16" else "fp32"
