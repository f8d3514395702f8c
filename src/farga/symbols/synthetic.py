"""A synthetic HASYv2: the catalogue's symbols rendered by matplotlib's mathtext, then made to
look hand-drawn (stroke width, affine jitter, elastic noise), written in HASYv2's own layout.

It exists for tests and offline demos. It is chosen in ``params.yaml`` (``data.source``), never
substituted for real data behind the user's back, and model cards name it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from rich.progress import track
from scipy import ndimage

from farga.symbols import catalogue
from farga.symbols.archive import HasyArchive, write_archive
from farga.symbols.params import Synthetic
from farga.symbols.preprocess import fit_to_box

GLYPH_PX = 96


def render_glyph(expr: str, px: int = GLYPH_PX) -> np.ndarray:
    """Mathtext expression -> ink map (float 0..1), cropped to the ink with a margin."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import math_to_image

    buf = io.BytesIO()
    math_to_image(expr, buf, prop=FontProperties(size=48), dpi=100, format="png")
    grey = np.asarray(Image.open(buf).convert("L"), dtype=np.float32)
    ink = 1.0 - grey / 255.0
    mask = ink > 0.3
    if not mask.any():
        raise ValueError(f"mathtext drew nothing for {expr!r}")
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = (px * 0.7) / max(h, w)
    img = Image.fromarray((crop * 255).astype(np.uint8)).resize(
        (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS
    )
    canvas = np.zeros((px, px), dtype=np.float32)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    top, left = (px - arr.shape[0]) // 2, (px - arr.shape[1]) // 2
    canvas[top : top + arr.shape[0], left : left + arr.shape[1]] = arr
    return canvas


def distort(glyph: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """One hand-drawn-looking sample of a glyph: stroke width, affine jitter, elastic noise."""
    px = glyph.shape[0]
    ink = glyph
    # stroke width: font strokes are thicker than a pen's, so thin more often than thicken
    width = int(rng.integers(-3, 2))
    if width > 0:
        ink = ndimage.grey_dilation(ink, size=(width + 1, width + 1))
    elif width < 0:
        thinned = ndimage.grey_erosion(ink, size=(1 - width, 1 - width))
        ink = thinned if (thinned > 0.5).sum() > 0.2 * (ink > 0.5).sum() else ink
    # affine: rotation, anisotropic scale, shear
    angle = np.deg2rad(rng.normal(0, 6 * strength))
    sx, sy = np.exp(rng.normal(0, 0.08 * strength, size=2))
    shear = rng.normal(0, 0.12 * strength)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rot @ np.array([[sy, shear], [0.0, sx]])
    centre = np.array([px / 2, px / 2])
    offset = centre - matrix @ centre
    ink = ndimage.affine_transform(ink, matrix, offset=offset, order=1, mode="constant")
    # elastic noise: a smooth random displacement field (Simard et al., 2003)
    alpha, sigma = 2.0 * strength * px / 32, px / 10
    dy = ndimage.gaussian_filter(rng.uniform(-1, 1, ink.shape), sigma) * alpha * px / 4
    dx = ndimage.gaussian_filter(rng.uniform(-1, 1, ink.shape), sigma) * alpha * px / 4
    yy, xx = np.meshgrid(np.arange(px), np.arange(px), indexing="ij")
    ink = ndimage.map_coordinates(ink, [yy + dy, xx + dx], order=1, mode="constant")
    return fit_to_box(np.clip(ink * 255, 0, 255).astype(np.uint8))


def generate(cfg: Synthetic, *, progress: bool = True) -> HasyArchive:
    """A HASYv2-layout dataset: ``samples_per_class`` per symbol (of ``classes`` drawn at random, or of the
    LaTeX commands listed in ``symbols``), ``writers`` pseudo-writers
    (each with its own distortion strength), folds by sample index like the paper's 10-fold protocol."""
    rng = np.random.default_rng(cfg.seed)
    symbols = list(catalogue.symbols())
    n_classes = cfg.classes or len(symbols)
    if cfg.symbols:  # these symbols exactly (tests that need particular classes)
        known = catalogue.by_latex()
        symbols = [known[name] for name in cfg.symbols]
    elif n_classes < len(symbols):
        chosen = sorted(rng.choice(len(symbols), size=n_classes, replace=False))
        symbols = [symbols[i] for i in chosen]
    per_class = cfg.samples_per_class
    n_writers = cfg.writers
    strengths = np.linspace(0.6, 1.4, n_writers)
    images: dict[str, np.ndarray] = {}
    rows: list[tuple[str, int, str, int, int]] = []
    iterator = track(symbols, description="rendering synthetic symbols") if progress else symbols
    for sym in iterator:
        glyph = render_glyph(sym.render)
        for k in range(per_class):
            writer = int(rng.integers(n_writers))
            path = f"hasy-data/v2-{len(rows):05d}.png"
            images[path] = 255 - distort(glyph, rng, float(strengths[writer]))  # black ink on white
            rows.append((path, sym.symbol_id, sym.latex, 1000 + writer, k))
    labels = pd.DataFrame(rows, columns=["path", "symbol_id", "latex", "user_id", "k"])
    folds = {
        f: {
            "train": labels.loc[labels.k % 10 != f - 1, "path"].tolist(),
            "test": labels.loc[labels.k % 10 == f - 1, "path"].tolist(),
        }
        for f in range(1, 11)
    }
    counts = labels.groupby("symbol_id").size()
    symbols_frame = pd.DataFrame(
        {
            "symbol_id": [s.symbol_id for s in symbols],
            "latex": [s.latex for s in symbols],
            "training_samples": [int(counts[s.symbol_id]) for s in symbols],
            "test_samples": 0,
        }
    )
    return HasyArchive(labels.drop(columns="k"), symbols_frame, folds, images)


def write_synthetic(path: Path, cfg: Synthetic, *, progress: bool = True) -> Path:
    return write_archive(path, generate(cfg, progress=progress))
