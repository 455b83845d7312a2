"""The sandbox refuses images the way Meta does (issue 10 point 7): JPEG only, with 3 colour
components, 8 MiB, and the feed ratio 4:5..1.91:1 exactly (no rounding)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from publisher.sandbox import fetch
from publisher.sandbox.meta_errors import GraphError


def jpeg(size: tuple[int, int], mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, "JPEG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("size", "feed"),
    [((1080, 1350), True), ((955, 500), True), ((1080, 1920), False)],
    ids=["4:5", "1.91:1", "story-any-ratio"],
)
def test_images_meta_takes(size: tuple[int, int], feed: bool) -> None:
    fetch.check_image(jpeg(size), "image/jpeg", feed=feed)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (jpeg((1080, 1358)), 36003),  # 0.795: rounded it was 0.80 and passed
        (jpeg((956, 500)), 36003),  # 1.912
        (jpeg((800, 800), "CMYK"), 36001),  # four colour components
        (jpeg((800, 800), "L"), 36001),  # one
    ],
    ids=["below-4:5", "above-1.91", "cmyk", "grey"],
)
def test_images_meta_refuses(data: bytes, code: int) -> None:
    with pytest.raises(GraphError) as raised:
        fetch.check_image(data, "image/jpeg", feed=True)
    assert raised.value.code == code
