"""Seeding every generator a training run touches, so that a rerun on the same machine gives the same model."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int, threads: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - third-party code may use the global generator
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
