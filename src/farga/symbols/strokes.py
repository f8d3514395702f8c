"""Rendering a drawing given as strokes (what a canvas sends) into the model's input format.

A stroke is drawn as Pillow's ``ImageDraw.line(points, width, joint="curve")`` draws it, pixel for
pixel (``tests/code/test_preprocess.py`` holds the two side by side on random drawings): one C call
for the segments, and a pie slice rounding each bend. Pillow works out each bend in Python, two
``atan2`` and a nested function per point, which was a third of rendering a drawing; here each
segment's heading is computed once and the slices go straight to Pillow's C drawing primitive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import numpy as np
from PIL import Image, ImageDraw

from farga.symbols.preprocess import SIZE, ImageInputError, fit_to_box

Point = tuple[float, float]
HASYV2_STROKE_PX = 2  # HASYv2's strokes: median ink run 2 px at 32x32 (ink covers ~17% of the box)
INK = 255
CURVED_FROM = 5  # Pillow rounds the bends of lines at least this wide (narrower ones need no joint)
GAPLESS_UP_TO = 8  # and draws more beside the bends of wider ones (the served pen is 6)


def draw_stroke(draw: ImageDraw.ImageDraw, pts: Sequence[Point], pen: int) -> None:
    """``draw.line(pts, fill=255, width=pen, joint="curve")``: the same arithmetic, in the same order."""
    if pen > GAPLESS_UP_TO:  # Pillow also covers gaps beside wider bends: its own code, then
        draw.line(pts, fill=INK, width=pen, joint="curve")
        return
    canvas = draw.draw  # Pillow's C drawing object, which ImageDraw's methods call
    canvas.draw_lines(pts, INK, pen)
    if pen < CURVED_FROM:
        return
    headings = [math.degrees(math.atan2(x1 - x0, y0 - y1)) % 360 for (x0, y0), (x1, y1) in pairwise(pts)]
    for (x, y), (before, after) in zip(pts[1:-1], pairwise(headings), strict=True):
        if before == after:
            continue  # straight on: no joint
        flipped = (after > before and after - 180 > before) or (after < before and after + 180 > before)
        start, end = (after + 90, before + 90) if flipped else (before - 90, after - 90)
        box = ((x - pen / 2 + 1, y - pen / 2 + 1), (x + pen / 2 - 1, y + pen / 2 - 1))
        canvas.draw_pieslice(box, start - 90, end - 90, INK, 1)


def render_strokes(strokes: Sequence[Sequence[Point]], size: int = SIZE, canvas: int = 128) -> np.ndarray:
    """Draw strokes (any coordinate range) the way HASYv2's drawings were rasterised.

    Coordinates are fitted to a square canvas keeping the aspect ratio, drawn with a pen as wide as
    HASYv2's strokes will be at 32 px, then fitted to the box like any image.
    """
    points = [p for stroke in strokes for p in stroke]
    if not points:
        raise ImageInputError("the drawing has no points")
    xy = np.array(points, dtype=np.float64)
    if not np.isfinite(xy).all():
        raise ImageInputError("stroke coordinates must be finite numbers")
    low, high = xy.min(axis=0), xy.max(axis=0)
    with np.errstate(over="ignore"):
        span = max(float(high[0] - low[0]), float(high[1] - low[1]), 1e-9)
    if not math.isfinite(span):
        raise ImageInputError("stroke coordinates must be finite and span a finite range")
    margin = canvas * 0.1
    scale = (canvas - 2 * margin) / span
    x0, y0 = float(low[0]), float(low[1])
    off_x = (canvas - (float(high[0]) - x0) * scale) / 2
    off_y = (canvas - (float(high[1]) - y0) * scale) / 2
    # the pen that lands at HASYv2's stroke width once the drawing is fitted to the 32-px box
    pen = max(1, round(HASYV2_STROKE_PX * (canvas - 2 * margin) / size))
    img = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(img)
    for stroke in strokes:
        pts = [((x - x0) * scale + off_x, (y - y0) * scale + off_y) for x, y in stroke]
        if len(pts) > 1:
            draw_stroke(draw, pts, pen)
        for x, y in (pts[0], pts[-1]) if len(pts) > 1 else pts:
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=INK)
    return fit_to_box(np.asarray(img, dtype=np.uint8), size)
