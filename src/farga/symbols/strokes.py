"""Rendering a drawing given as strokes (what a canvas sends) into the model's input format."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from farga.symbols.preprocess import SIZE, ImageInputError, fit_to_box

Point = tuple[float, float]
HASYV2_STROKE_PX = 2  # HASYv2's strokes: median ink run 2 px at 32x32 (ink covers ~17% of the box)


def render_strokes(strokes: Sequence[Sequence[Point]], size: int = SIZE, canvas: int = 128) -> np.ndarray:
    """Draw strokes (any coordinate range) the way HASYv2's drawings were rasterised.

    Coordinates are fitted to a square canvas keeping the aspect ratio, drawn with a pen as wide as
    HASYv2's strokes will be at 32 px, then fitted to the box like any image.
    """
    points = [p for stroke in strokes for p in stroke]
    if not points:
        raise ImageInputError("the drawing has no points")
    xs = np.array([p[0] for p in points], dtype=np.float64)
    ys = np.array([p[1] for p in points], dtype=np.float64)
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise ImageInputError("stroke coordinates must be finite numbers")
    with np.errstate(over="ignore"):
        span = max(xs.max() - xs.min(), ys.max() - ys.min(), 1e-9)
    if not np.isfinite(span):
        raise ImageInputError("stroke coordinates must be finite and span a finite range")
    margin = canvas * 0.1
    scale = (canvas - 2 * margin) / span
    x0, y0 = float(xs.min()), float(ys.min())
    off_x = (canvas - (xs.max() - x0) * scale) / 2
    off_y = (canvas - (ys.max() - y0) * scale) / 2
    # the pen that lands at HASYv2's stroke width once the drawing is fitted to the 32-px box
    pen = max(1, round(HASYV2_STROKE_PX * (canvas - 2 * margin) / size))
    img = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(img)
    for stroke in strokes:
        pts = [((x - x0) * scale + off_x, (y - y0) * scale + off_y) for x, y in stroke]
        if len(pts) == 1:
            (x, y) = pts[0]
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
        else:
            draw.line(pts, fill=255, width=pen, joint="curve")
            for x, y in (pts[0], pts[-1]):
                draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    return fit_to_box(np.asarray(img, dtype=np.uint8), size)
