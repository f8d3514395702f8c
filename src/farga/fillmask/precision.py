"""Which precision trains here: bfloat16 only where this CPU measurably multiplies it faster."""

from __future__ import annotations

import time
from typing import Literal

import torch

Precision = Literal["bf16", "fp32"]


def resolve_precision(precision: Literal["auto", "bf16", "fp32"], dim: int) -> Precision:
    """``auto`` -> bf16 where this CPU multiplies bfloat16 matrices clearly faster than float32 (with AMX:
    several times), else fp32: AVX-512 BF16 alone can be slower than float32, as on some cloud VMs."""
    if precision != "auto":
        return precision
    return "bf16" if product_seconds(torch.bfloat16, dim) * 1.2 < product_seconds(torch.float32, dim) else "fp32"


def product_seconds(dtype: torch.dtype, dim: int, reps: int = 5) -> float:
    """Mean time of a (2048 x dim) @ (dim x 4 dim) product in ``dtype``: the shape of the network's
    feed-forward layers, what ``auto`` compares."""
    a, b = torch.randn(2048, dim, dtype=dtype), torch.randn(dim, 4 * dim, dtype=dtype)
    a @ b  # warm-up
    started = time.perf_counter()
    for _ in range(reps):
        a @ b
    return (time.perf_counter() - started) / reps
