"""The one preprocessing shared by training and serving (numpy and Pillow only: no torch).

Every image, whether a HASYv2 PNG, an upload or a rendered stroke drawing (``strokes.py``), becomes the
same thing:
a 32x32 uint8 *ink* map (255 = ink, 0 = paper), the symbol cropped to its ink, scaled so its long
side spans the box (as HASYv2 was made), and centred. The model sees ``ink / 255``.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

SIZE = 32
INK_THRESHOLD = 128  # after polarity fix, a pixel with at least this much ink counts for the bounding box
SPEC = {
    "size": SIZE,
    "layout": "NCHW",
    "dtype": "float32",
    "ink": "ink=1.0, paper=0.0 (value = ink / 255)",
    "steps": [
        "grey",
        "polarity: paper is the majority of the border",
        "crop to ink",
        "keep aspect",
        "long side to 32 px",
        "centre",
        "binarise at 128",
    ],
}


class ImageInputError(ValueError):
    """An image or drawing that cannot be turned into a model input; the message says why."""


def to_grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2 and image.dtype == np.uint8:
        return image  # already grey bytes (rounding and clipping them again costs a float16 round trip)
    if image.ndim == 2:
        grey = image
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        rgb = image[..., :3].astype(np.float32)
        if image.shape[2] == 4:  # transparent paper counts as white
            alpha = image[..., 3:4].astype(np.float32) / 255.0
            rgb = rgb * alpha + 255.0 * (1.0 - alpha)
        grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    else:
        raise ImageInputError(f"expected a 2-D grey or RGB(A) image, got shape {image.shape}")
    out: np.ndarray = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    return out


def to_ink(grey: np.ndarray) -> np.ndarray:
    """Ink map from a grey image of either polarity: the paper is what most of the border is."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    dark_paper = np.median(border) < 128
    return grey.copy() if dark_paper else (255 - grey)


def max_filter(image: np.ndarray, radius: int) -> np.ndarray:
    """Maximum over a (2r+1)-square window, separably (pixels outside the image are ignored)."""
    out = image
    for axis in (0, 1):
        src, out = out, out.copy()
        n = src.shape[axis]
        for shift in range(1, min(radius, n - 1) + 1):
            lead = [slice(None)] * 2
            lag = [slice(None)] * 2
            lead[axis], lag[axis] = slice(shift, None), slice(None, -shift)
            np.maximum(out[tuple(lead)], src[tuple(lag)], out=out[tuple(lead)])
            np.maximum(out[tuple(lag)], src[tuple(lead)], out=out[tuple(lag)])
    return out


def stroke_width(mask: np.ndarray) -> float:
    """Typical stroke width of a binary drawing: the mean length of its ink runs along rows or along
    columns, whichever direction has more runs (a run across a stroke measures its width, one along a
    stroke its length). Counted, not listed: this runs on every request."""
    ink = np.count_nonzero(mask)
    if not ink:
        return 0.0
    row_runs = np.count_nonzero(mask[:, 1:] & ~mask[:, :-1]) + np.count_nonzero(mask[:, 0])
    col_runs = np.count_nonzero(mask[1:] & ~mask[:-1]) + np.count_nonzero(mask[0])
    return float(ink) / max(row_runs, col_runs)


def fit_to_box(ink: np.ndarray, size: int = SIZE) -> np.ndarray:
    mask = ink >= INK_THRESHOLD
    if not mask.any():
        raise ImageInputError("the image has no ink: nothing is drawn on it")
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = size / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    if (new_h, new_w) != (h, w):
        if scale < 1:
            # A stroke must be about 1/scale px wide to stay a pixel wide when averaged down: widen
            # only what is thinner than that (a thin pen line), never what already is wide enough
            # (widening every stroke made a drawing sent at 4x size 70% heavier in ink than the same
            # drawing at 32 px, and cost 15 points of top-3 accuracy).
            radius = math.ceil(max(0.0, 1 / scale - stroke_width(crop >= INK_THRESHOLD)) / 2)
            if radius:
                crop = max_filter(crop, radius)
        resized = Image.fromarray(crop).resize((new_w, new_h), Image.Resampling.BOX)
        crop = np.asarray(resized, dtype=np.uint8)
    out = np.zeros((size, size), dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = crop
    # HASYv2 is black and white: binarise so every source matches it.
    return np.where(out >= INK_THRESHOLD, 255, 0).astype(np.uint8)


def normalise_image(image: np.ndarray) -> np.ndarray:
    """Any grey/RGB(A) image of either polarity -> 32x32 ink map."""
    return fit_to_box(to_ink(to_grey(image)))


def to_model_input(inks: np.ndarray) -> np.ndarray:
    """(N, 32, 32) uint8 ink maps -> (N, 1, 32, 32) float32 in [0, 1]."""
    return (inks.astype(np.float32) / 255.0)[:, None, :, :]
