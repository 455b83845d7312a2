"""The shape a feed image is sent in: exact aspect-ratio arithmetic, crop and pad (SPEC §7).

Instagram takes feed images (posts, carousel items) from 4:5 (portrait) to 1.91:1 (landscape)
and error 36003 / 2207009 refuses the rest (instagram-api.md §6, §7.2). The check is exact,
in fractions: a rounded check let 1080x1358 (0.795) through, and Meta refused it (issue 10).
Outside the range the draft's `fit` decides: `crop` keeps the centre at the nearest limit,
`pad` adds white bars up to it; without `fit` there is no geometry and the caller says why.

Everything here is a pure function of integers, so the property tests can try every size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

Fit = Literal["crop", "pad"]
Box = tuple[int, int, int, int]  # left, top, right, bottom
Size = tuple[int, int]  # width, height

FEED_MIN = Fraction(4, 5)  # the tallest feed image: 4:5
FEED_MAX = Fraction(191, 100)  # the widest: 1.91:1
RANGE_TEXT = "4:5..1.91:1"


@dataclass(frozen=True)
class Geometry:
    """What to make of an image shown `width` x `height` (after its EXIF orientation): take
    `region` of it, scale that to `content`, and centre it on a white `canvas` (the size sent;
    equal to `content` unless padded)."""

    region: Box
    content: Size
    canvas: Size


def within(width: int, height: int) -> bool:
    """Return True if `width` x `height` is inside 4:5..1.91:1, limits included, exactly."""
    return FEED_MIN <= Fraction(width, height) <= FEED_MAX


def describe(width: int, height: int) -> str:
    """Return the ratio as a user reads it: "1:3 (0.333)", "540:679 (0.795)"."""
    ratio = Fraction(width, height)
    return f"{ratio.numerator}:{ratio.denominator} ({float(ratio):.3f})"


def crop_box(width: int, height: int) -> Box:
    """Return the centred box of an image outside the range that reaches the nearest limit
    while keeping one whole side. Inside the range, the whole image."""
    if Fraction(width, height) < FEED_MIN:  # too tall: keep the width, cut top and bottom
        kept = math.floor(width / FEED_MIN)
        top = (height - kept) // 2
        return (0, top, width, top + kept)
    if Fraction(width, height) > FEED_MAX:  # too wide: keep the height, cut the sides
        kept = math.floor(height * FEED_MAX)
        left = (width - kept) // 2
        return (left, 0, left + kept, height)
    return (0, 0, width, height)


def pad_size(width: int, height: int) -> Size:
    """Return the smallest canvas inside the range that holds `width` x `height` whole:
    wider for a tall image, taller for a wide one; the size itself when it is in range."""
    if Fraction(width, height) < FEED_MIN:
        return (math.ceil(height * FEED_MIN), height)
    if Fraction(width, height) > FEED_MAX:
        return (width, math.ceil(width / FEED_MAX))
    return (width, height)


def scaled(width: int, height: int, max_width: int, *, keep_in_range: bool) -> Size:
    """Return `width` x `height` scaled down to `max_width` wide (unchanged when narrower).

    With `keep_in_range` (the size is inside 4:5..1.91:1), the rounded height is nudged by at
    most a pixel so that the scaled size stays inside it too: 4001x5001 must not become
    1440x1801 (0.7996).
    """
    if width <= max_width:
        return (width, height)
    new_height = max(1, round(Fraction(height * max_width, width)))
    if keep_in_range:
        tallest = math.floor(max_width / FEED_MIN)
        flattest = math.ceil(max_width / FEED_MAX)
        new_height = min(max(new_height, flattest), tallest)
    return (max_width, new_height)


def plan(
    width: int, height: int, *, fit: Fit | None, max_width: int, feed: bool
) -> Geometry | None:
    """Given the size an image is shown at, its `fit` and whether the ratio rule applies
    (`feed`), return the geometry to send it in, at most `max_width` wide; every feed canvas
    is inside 4:5..1.91:1. Return None for a feed image outside the range without `fit`."""
    whole: Box = (0, 0, width, height)
    if not feed or within(width, height):
        content = scaled(width, height, max_width, keep_in_range=feed)
        return Geometry(whole, content, content)
    if fit is None:
        return None
    if fit == "crop":
        box = crop_box(width, height)
        content = scaled(box[2] - box[0], box[3] - box[1], max_width, keep_in_range=True)
        return Geometry(box, content, content)
    # pad: shrink the picture first so that the canvas around it is at most max_width wide.
    if Fraction(width, height) > FEED_MAX:  # the canvas is as wide as the picture
        content = scaled(width, height, max_width, keep_in_range=False)
    else:  # too tall: the canvas is 4:5 of the picture's height
        tallest = math.floor(max_width / FEED_MIN)
        content = (width, height)
        if height > tallest:
            content = (max(1, round(Fraction(width * tallest, height))), tallest)
    return Geometry(whole, content, pad_size(*content))
