import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from farga.symbols.preprocess import (
    ImageInputError,
    fit_to_box,
    normalise_image,
    to_model_input,
)
from farga.symbols.strokes import render_strokes

pytestmark = pytest.mark.code


def drawing(h: int = 120, w: int = 80) -> np.ndarray:
    """A dark 'L' on white paper."""
    img = np.full((h, w), 255, dtype=np.uint8)
    img[20:100, 20:30] = 0
    img[90:100, 20:60] = 0
    return img


def test_output_is_a_binary_32x32_ink_map():
    out = normalise_image(drawing())
    assert out.shape == (32, 32)
    assert out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 255}


def test_polarity_does_not_matter():
    img = drawing()
    assert np.array_equal(normalise_image(img), normalise_image(255 - img))


def test_rgb_and_rgba_match_grey():
    grey = drawing()
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    rgba = np.concatenate([rgb, np.full((*grey.shape, 1), 255, np.uint8)], axis=2)
    assert np.array_equal(normalise_image(rgb), normalise_image(grey))
    assert np.array_equal(normalise_image(rgba), normalise_image(grey))


def test_long_side_spans_the_box_and_symbol_is_centred():
    out = normalise_image(drawing())
    rows, cols = np.flatnonzero(out.any(1)), np.flatnonzero(out.any(0))
    assert rows[0] == 0
    assert rows[-1] == 31
    assert abs((cols[0] + cols[-1]) / 2 - 15.5) <= 1  # centred horizontally
    assert cols[-1] - cols[0] + 1 < 32  # aspect kept, not stretched


def test_position_and_scale_of_the_drawing_do_not_matter():
    small = drawing()
    big = np.full((480, 320), 255, np.uint8)
    big[100:220, 150:230] = small
    a, b = normalise_image(small), normalise_image(big)
    assert (a != b).mean() < 0.02


def test_empty_image_is_rejected_with_a_reason():
    with pytest.raises(ImageInputError, match="no ink"):
        normalise_image(np.full((40, 40), 255, np.uint8))


def test_bad_shape_is_rejected():
    with pytest.raises(ImageInputError, match="shape"):
        normalise_image(np.zeros((4, 4, 2), np.uint8))


@settings(max_examples=40, deadline=None)
@given(st.integers(4, 64), st.integers(4, 64), st.integers(0, 2**31 - 1))
def test_normalising_is_idempotent(h: int, w: int, seed: int):
    rng = np.random.default_rng(seed)
    ink = np.zeros((h, w), np.uint8)
    ink[rng.integers(0, h, 6), rng.integers(0, w, 6)] = 255
    once = fit_to_box(ink)
    assert np.array_equal(fit_to_box(once), once)


def test_strokes_in_any_coordinate_range_give_the_same_input():
    stroke = [(0.0, 0.0), (1.0, 1.0), (2.0, 0.0)]
    a = render_strokes([stroke])
    b = render_strokes([[(x * 300 + 17, y * 300 - 5) for x, y in stroke]])
    assert np.array_equal(a, b)
    assert a.shape == (32, 32)
    assert a.max() == 255


def test_strokes_must_have_finite_points():
    with pytest.raises(ImageInputError, match="finite"):
        render_strokes([[(0.0, 0.0), (float("nan"), 1.0)]])
    with pytest.raises(ImageInputError, match="no points"):
        render_strokes([[]])


def test_model_input_is_nchw_float_in_unit_range():
    x = to_model_input(np.stack([normalise_image(drawing())] * 3))
    assert x.shape == (3, 1, 32, 32)
    assert x.dtype == np.float32
    assert x.min() == 0.0
    assert x.max() == 1.0


def test_grey_bytes_come_back_as_they_are_and_other_greys_are_rounded():
    from farga.symbols.preprocess import to_grey

    grey = np.random.default_rng(0).integers(0, 256, (40, 30), dtype=np.uint8)
    assert to_grey(grey) is grey
    as_rgb = np.repeat(grey[..., None], 3, axis=2)
    np.testing.assert_array_equal(to_grey(as_rgb), grey)  # the RGB route lands on the same bytes
    floats = np.array([[-3.0, 12.4, 12.6, 300.0]])
    np.testing.assert_array_equal(to_grey(floats), np.array([[0, 12, 13, 255]], dtype=np.uint8))


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
def test_a_drawing_sent_larger_comes_back_as_it_was(factor: int):
    """The same drawing uploaded at any size is the same model input (strokes are not widened)."""
    from PIL import Image

    drawing = render_strokes([[(0, 0), (10, 10), (20, 0)], [(5, 12), (15, 12)]])
    assert drawing.shape == (32, 32)
    larger = np.asarray(Image.fromarray(drawing).resize((32 * factor, 32 * factor), Image.Resampling.NEAREST))
    np.testing.assert_array_equal(normalise_image(255 - larger), drawing)


def test_a_thin_pen_line_survives_shrinking_and_stroke_width_is_measured():
    from farga.symbols.preprocess import stroke_width

    thin = np.zeros((256, 256), dtype=np.uint8)
    thin[20:236, 128] = 255  # a 1-px line, 8x the model's resolution
    assert stroke_width(thin > 0) == 1.0
    thin[128, 20:236] = 255  # and a cross bar: one long run along its row
    assert stroke_width(thin > 0) < 2.5
    out = fit_to_box(thin)
    assert out[:, 14:18].any(axis=1).sum() >= 30  # the vertical line is still there, top to bottom
    thick = np.zeros((64, 64), dtype=np.uint8)
    thick[:, 20:26] = 255
    assert stroke_width(thick > 0) == 6.0


def test_drawn_strokes_have_hasyv2_stroke_width():
    from farga.symbols.preprocess import stroke_width
    from farga.symbols.strokes import HASYV2_STROKE_PX

    for strokes in ([[(0, 0), (40, 40)], [(0, 40), (40, 0)]], [[(0, 0), (0, 50), (30, 50)]]):
        width = stroke_width(render_strokes(strokes) > 0)
        # along rows or columns a diagonal stroke measures up to sqrt(2) times its width
        assert HASYV2_STROKE_PX * 0.75 <= width <= HASYV2_STROKE_PX * 1.6


coordinate = st.floats(-5.0, 133.0, allow_nan=False, width=64)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(coordinate, coordinate), min_size=2, max_size=40),
    st.sampled_from([1, 4, 5, 6, 9, 12]),
    st.booleans(),
)
def test_a_stroke_is_drawn_as_pillows_curved_line_pixel_for_pixel(points, pen: int, on_a_grid: bool):
    """The served rendering skips Pillow's per-point Python for the bends: the canvas must not change
    by a pixel (the model's answers for the same drawing would), straight runs, sharp turns, repeated
    points and pens on either side of Pillow's curve threshold included."""
    from PIL import Image, ImageDraw

    from farga.symbols.strokes import draw_stroke

    if on_a_grid:  # canvas pixels as a mouse gives them: collinear runs and repeated points
        points = [(float(round(x)), float(round(y))) for x, y in points]
    ours, pillows = Image.new("L", (128, 128), 0), Image.new("L", (128, 128), 0)
    draw_stroke(ImageDraw.Draw(ours), points, pen)
    ImageDraw.Draw(pillows).line(points, fill=255, width=pen, joint="curve")
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(pillows))
