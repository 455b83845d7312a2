"""The exact aspect-ratio arithmetic of feed images (SPEC §7): table cases and every size."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.hosting import ratio

MAX_WIDTH = 1440


@pytest.mark.parametrize(
    ("width", "height", "inside"),
    [
        (1080, 1350, True),  # 4:5 exactly
        (1080, 1358, False),  # 0.7953: "0.80" once rounded
        (1080, 1349, True),
        (191, 100, True),  # 1.91:1 exactly
        (1911, 1000, False),
        (1, 1, True),
    ],
)
def test_within_is_exact(width: int, height: int, inside: bool) -> None:
    assert ratio.within(width, height) is inside


@pytest.mark.parametrize(
    ("width", "height", "text"),
    [(1000, 3000, "1:3 (0.333)"), (1080, 1358, "540:679 (0.795)"), (4000, 1000, "4:1 (4.000)")],
)
def test_describe(width: int, height: int, text: str) -> None:
    assert ratio.describe(width, height) == text


@pytest.mark.parametrize(
    ("size", "box", "canvas"),
    [
        ((1000, 3000), (0, 875, 1000, 2125), (2400, 3000)),  # tall: keep the width
        ((4000, 1000), (1045, 0, 2955, 1000), (4000, 2095)),  # wide: keep the height
        ((1000, 1000), (0, 0, 1000, 1000), (1000, 1000)),  # in range: untouched
    ],
)
def test_crop_box_and_pad_size(
    size: tuple[int, int], box: tuple[int, int, int, int], canvas: tuple[int, int]
) -> None:
    assert ratio.crop_box(*size) == box
    assert ratio.pad_size(*size) == canvas


def test_scaling_down_keeps_a_size_in_range() -> None:
    # 5000 * 1443 / 4000 = 1803.75 rounds to 1804, and 1443x1804 is below 4:5: nudged to 1803.
    assert ratio.scaled(4000, 5000, 1443, keep_in_range=False) == (1443, 1804)
    assert ratio.scaled(4000, 5000, 1443, keep_in_range=True) == (1443, 1803)
    assert ratio.scaled(4000, 5000, MAX_WIDTH, keep_in_range=True) == (1440, 1800)
    assert ratio.scaled(1000, 1000, MAX_WIDTH, keep_in_range=True) == (1000, 1000)


sizes = st.integers(min_value=1, max_value=60_000)


@given(
    width=sizes,
    height=sizes,
    fit=st.sampled_from(["crop", "pad"]),
    max_width=st.sampled_from([MAX_WIDTH, 1443]) | st.integers(min_value=2, max_value=4000),
)
def test_every_size_fits_exactly_after_crop_or_pad(
    width: int, height: int, fit: str, max_width: int
) -> None:
    geometry = ratio.plan(width, height, fit=fit, max_width=max_width, feed=True)
    assert geometry is not None
    canvas_width, canvas_height = geometry.canvas
    assert ratio.FEED_MIN <= Fraction(canvas_width, canvas_height) <= ratio.FEED_MAX
    assert 1 <= canvas_width <= max_width
    assert 1 <= geometry.content[0] <= canvas_width and 1 <= geometry.content[1] <= canvas_height
    left, top, right, bottom = geometry.region
    assert 0 <= left < right <= width and 0 <= top < bottom <= height
    if fit == "crop":  # one whole side kept, and no padding
        assert (right - left == width) or (bottom - top == height)
        assert geometry.canvas == geometry.content
    else:
        assert geometry.region == (0, 0, width, height)


@given(width=sizes, height=sizes, max_width=st.integers(min_value=2, max_value=4000))
def test_without_fit_only_sizes_in_range_pass_and_stay_in_range(
    width: int, height: int, max_width: int
) -> None:
    geometry = ratio.plan(width, height, fit=None, max_width=max_width, feed=True)
    assert (geometry is not None) == ratio.within(width, height)
    if geometry is not None:
        assert ratio.within(*geometry.canvas) and geometry.canvas[0] <= max_width


@given(width=sizes, height=sizes)
def test_stories_keep_their_shape(width: int, height: int) -> None:
    geometry = ratio.plan(width, height, fit="crop", max_width=MAX_WIDTH, feed=False)
    assert geometry is not None and geometry.region == (0, 0, width, height)
    assert geometry.canvas == geometry.content and geometry.canvas[0] == min(width, MAX_WIDTH)
