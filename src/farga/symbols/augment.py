"""Augmentation on whole batches in plain torch (no torchvision here): another writer, pen and device
for each training drawing (docs/experiments/2026-12-04-*)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from farga.symbols.params import Augment


def augment(x: torch.Tensor, cfg: Augment, gen: torch.Generator) -> torch.Tensor:
    """Another writer, pen and device for each drawing of a batch (plain torch: no torchvision here).

    Geometry: rotation, scale, shear and shift, plus a smooth elastic field (Simard et al., 2003).
    Pen: the warped ink is blurred and binarised again at a random level, as the service binarises
    what a canvas or a renderer anti-aliased: a low level draws a heavier pen, a high one a finer
    pen. Broken strokes: a few drawings lose a small patch of ink, as a fast stroke on a tablet does."""
    n, side = x.shape[0], x.shape[-1]

    def uniform(limit: float, centre: float = 0.0) -> torch.Tensor:
        return centre + (torch.rand(n, generator=gen) * 2 - 1) * limit

    angle = uniform(math.radians(cfg.rotate_deg))
    scale = 1 + uniform(cfg.scale)
    tx, ty = uniform(cfg.shift), uniform(cfg.shift)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    shear = uniform(cfg.shear)
    theta = torch.stack([torch.stack([cos, -sin + shear, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if cfg.elastic:  # displacement in grid units (the side spans 2): a field smooth over a quarter
        field = (torch.rand(n, 2, 4, 4, generator=gen) * 2 - 1) * 2 * cfg.elastic
        grid = grid + F.interpolate(field, size=(side, side), mode="bicubic", align_corners=False).permute(0, 2, 3, 1)
    x = F.grid_sample(x, grid, align_corners=False)
    if cfg.pen:
        low, high = cfg.pen
        blurred = F.conv2d(x, _BLUR.to(x.dtype), padding=_BLUR.shape[-1] // 2)
        redrawn = (blurred >= uniform((high - low) / 2, (high + low) / 2).view(n, 1, 1, 1)).to(x.dtype)
        kept = redrawn.flatten(1).sum(1) >= 0.5 * (x >= 0.5).flatten(1).sum(1)  # a fine pen may not erase it
        kept &= torch.rand(n, generator=gen) < cfg.pen_share
        x = torch.where(kept.view(n, 1, 1, 1), redrawn, x)
    if cfg.breaks:  # a 3x3 gap centred on an ink pixel of the chosen drawings
        broken = torch.rand(n, generator=gen) < cfg.breaks
        at = torch.multinomial(x.flatten(1) + 1e-6, 1, generator=gen)
        hole = torch.zeros_like(x).flatten(1).scatter_(1, at, 1.0).view_as(x)
        hole = F.max_pool2d(hole, 3, stride=1, padding=1) * broken.view(n, 1, 1, 1)
        x = x * (1 - hole)
    return x


def _gaussian(sigma: float, radius: int) -> torch.Tensor:
    taps = torch.exp(-(torch.arange(-radius, radius + 1, dtype=torch.float32) ** 2) / (2 * sigma**2))
    kernel = taps[:, None] * taps[None, :]
    return (kernel / kernel.sum()).view(1, 1, 2 * radius + 1, 2 * radius + 1)


_BLUR = _gaussian(0.8, 2)  # about a pixel of a 32 px drawing: the width a pen varies by
