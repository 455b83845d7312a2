"""Images converted into what Instagram takes (SPEC §7), made at run time with Pillow.

Every conversion also checks that the user's file is byte-identical with the same mtime, and
that the output is what the sandbox and Meta check: a baseline JPEG, 3 components, no EXIF
rotation, at most 1440 px wide and 8 MB, in 4:5..1.91:1 for feed images.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pillow_heif
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from publisher import confined
from publisher.hosting import convert, ratio
from publisher.hosting.convert import MAX_BYTES, MAX_WIDTH
from tests.support.images import cmyk_profile, png_claiming

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "state" / "cache"


@pytest.fixture
def content(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    folder.mkdir()
    return folder


def run(source: Path, cache: Path, **options: Any) -> Path | str:
    """`convert.convert`, checking that the user's file is byte-identical with its mtime."""
    data, mtime = source.read_bytes(), source.stat().st_mtime_ns
    result = convert.convert(source, cache, **options)
    assert source.read_bytes() == data
    assert source.stat().st_mtime_ns == mtime
    return result


def save(image: Image.Image, path: Path, fmt: str | None = None, **options: object) -> Path:
    image.save(path, fmt, **options)
    return path


def sendable(result: Path | str, *, feed: bool = True) -> Image.Image:
    """Assert that `result` is a JPEG Instagram takes; return it decoded."""
    assert isinstance(result, Path), result
    data = result.read_bytes()
    assert len(data) < MAX_BYTES
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert image.mode == "RGB" and len(image.getbands()) == 3
    assert b"\xff\xc0" in data and b"\xff\xc2" not in data  # SOF0 baseline, no SOF2
    assert "progressive" not in image.info
    assert image.getexif().get(0x0112) in (None, 1)
    assert image.info.get("icc_profile") in (None, b"")
    assert image.width <= MAX_WIDTH
    if feed:
        assert Fraction(4, 5) <= Fraction(image.width, image.height) <= Fraction(191, 100)
    image.load()
    return image


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def centre(image: Image.Image) -> tuple[int, ...]:
    pixel = image.getpixel((image.width // 2, image.height // 2))
    assert isinstance(pixel, tuple)
    return pixel


# --- formats and colour modes -------------------------------------------------------------


def test_png_with_transparency_is_flattened_on_white(content: Path, cache: Path) -> None:
    image = Image.new("RGBA", (800, 800), (0, 0, 255, 0))
    image.paste((255, 0, 0, 255), (0, 0, 400, 800))
    source = save(image, content / "shot.png")
    out = sendable(run(source, cache))
    assert out.size == (800, 800)
    assert near(out.getpixel((100, 400)), RED)
    assert near(out.getpixel((700, 400)), WHITE)


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("photo.webp", lambda: Image.new("RGB", (900, 900), GREEN), GREEN),
        ("photo.tif", lambda: Image.new("RGB", (900, 700), BLUE), BLUE),
        ("photo.bmp", lambda: Image.new("RGB", (900, 700), RED), RED),
        ("palette.png", lambda: Image.new("RGB", (600, 600), RED).convert("P"), RED),
        ("grey.png", lambda: Image.new("L", (600, 600), 128), (128, 128, 128)),
        ("grey-alpha.png", lambda: Image.new("LA", (600, 600), (0, 0)), WHITE),
        # 16-bit greyscale: 40000 of 65535 is 156 of 255, not clipped to white
        ("deep.png", lambda: Image.new("I;16", (600, 600), 40000), (156, 156, 156)),
        ("deep.tif", lambda: Image.new("I;16", (600, 600), 40000), (156, 156, 156)),
        ("bits.tif", lambda: Image.new("1", (600, 600), 1), WHITE),
    ],
)
def test_other_formats_and_modes_become_rgb_jpeg(
    content: Path,
    cache: Path,
    name: str,
    make: Callable[[], Image.Image],
    expected: tuple[int, int, int],
) -> None:
    source = save(make(), content / name)
    out = sendable(run(source, cache))
    assert near(centre(out), expected)


def test_gif_sends_its_first_frame(content: Path, cache: Path) -> None:
    frames = [Image.new("RGB", (500, 500), colour) for colour in (RED, GREEN, BLUE)]
    source = save(frames[0], content / "anim.gif", save_all=True, append_images=frames[1:])
    assert Image.open(source).n_frames == 3
    assert near(centre(sendable(run(source, cache))), RED)


def test_heic_from_a_phone_is_converted(content: Path, cache: Path) -> None:
    image = Image.new("RGB", (1200, 1500), (200, 40, 40))
    source = content / "IMG_0001.HEIC"
    pillow_heif.from_pillow(image).save(source, quality=90)
    out = sendable(run(source, cache))
    assert out.size == (1200, 1500)
    assert near(centre(out), (200, 40, 40), tolerance=16)


def test_heic_in_a_codec_this_machine_lacks_is_a_sentence(content: Path, cache: Path) -> None:
    buffer = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", (64, 64), RED)).save(buffer, quality=50)
    # The same file, its image item declared AV1: pillow-heif here decodes HEVC only.
    source = content / "IMG_0002.heic"
    source.write_bytes(buffer.getvalue().replace(b"hvc1", b"av01"))
    problem = run(source, cache)
    assert isinstance(problem, str)
    assert "HEIC" in problem and "codec" in problem and "JPEG" in problem


def test_mpo_is_sent_as_a_plain_jpeg(content: Path, cache: Path) -> None:
    left, right = Image.new("RGB", (800, 600), RED), Image.new("RGB", (800, 600), BLUE)
    source = save(left, content / "3d.jpg", "MPO", save_all=True, append_images=[right])
    assert Image.open(source).format == "MPO"
    result = run(source, cache)
    assert result != source
    assert near(centre(sendable(result)), RED)


def test_cmyk_jpeg_with_icc_uses_its_profile(content: Path, cache: Path) -> None:
    # The test profile maps these inks to a deep red; Pillow's plain formula gives near black.
    image = Image.new("CMYK", (600, 600), (200, 200, 200, 200))
    source = save(image, content / "print.jpg", icc_profile=cmyk_profile())
    out = sendable(run(source, cache))
    red, green, blue = centre(out)
    assert red > 100 and green < 40 and blue < 40
    assert near(image.convert("RGB").getpixel((0, 0)), (12, 12, 12))


def test_cmyk_jpeg_without_icc_is_converted_plainly(content: Path, cache: Path) -> None:
    source = save(Image.new("CMYK", (600, 600), (0, 255, 255, 0)), content / "print.jpg")
    assert Image.open(source).mode == "CMYK"
    assert near(centre(sendable(run(source, cache))), RED)


def test_icc_profile_that_does_not_fit_the_pixels_is_ignored(content: Path, cache: Path) -> None:
    # A CMYK profile on an RGB PNG: converted plainly instead of failing.
    image = Image.new("RGB", (600, 600), GREEN)
    source = save(image, content / "odd.png", icc_profile=cmyk_profile())
    assert near(centre(sendable(run(source, cache))), GREEN)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_exif_rotated_image_is_sent_upright(content: Path, cache: Path, fmt: str) -> None:
    # Stored 1350x1080 with orientation 6 (turn 90 degrees clockwise to view): a portrait.
    stored = Image.new("RGB", (1350, 1080), GREEN)
    stored.paste(RED, (0, 0, 200, 200))  # stored top-left shows at the top right
    exif = Image.Exif()
    exif[0x0112] = 6
    source = save(stored, content / f"portrait.{fmt.lower()}", fmt, exif=exif)
    out = sendable(run(source, cache))
    assert out.size == (1080, 1350)
    assert near(out.getpixel((1080 - 50, 50)), RED)
    assert near(out.getpixel((50, 50)), GREEN)


def test_progressive_jpeg_is_sent_as_baseline(content: Path, cache: Path) -> None:
    source = save(Image.new("RGB", (800, 800), BLUE), content / "p.jpg", progressive=True)
    result = run(source, cache)
    assert result != source
    sendable(result)


# --- size ---------------------------------------------------------------------------------


def noise(width: int, height: int) -> Image.Image:
    return Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))


def detailed(width: int, height: int) -> Image.Image:
    """Detail in every part of the image, as a photo has, but quick to encode in any format
    (HEIF and GIF take seconds to encode `noise` of this size)."""
    return Image.effect_mandelbrot((width, height), (-2.0, -1.5, 1.0, 1.5), 100).convert("RGB")


def test_large_jpeg_over_8_mb_is_scaled_and_under_8_mb(content: Path, cache: Path) -> None:
    source = save(noise(3000, 2400), content / "big.jpg", quality=100)
    assert source.stat().st_size > MAX_BYTES
    out = sendable(run(source, cache))
    assert out.size == (1440, 1152)


def test_tall_story_over_8_mb_is_re_encoded_under_it(content: Path, cache: Path) -> None:
    # Already 1440 wide, so only a lower quality can bring it under 8 MB.
    source = save(noise(1440, 4000), content / "story.png")
    result = run(source, cache, target="story")
    out = sendable(result, feed=False)
    assert out.size == (1440, 4000)


def test_jpeg_that_needs_no_change_is_sent_as_it_is(content: Path, cache: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = save(Image.new("RGB", (1080, 1350), GREEN), content / "ok.jpg", icc_profile=srgb)
    assert run(source, cache) == source
    assert run(source, cache, fit="crop") == source
    assert not cache.exists()


def test_source_larger_than_anything_converted_is_refused_unread(
    content: Path, cache: Path
) -> None:
    source = content / "huge.tif"
    with source.open("wb") as handle:  # sparse: no 200 MB written to the disk
        handle.truncate(convert.MAX_SOURCE_BYTES + 1)
    problem = run(source, cache)
    assert isinstance(problem, str) and "MB" in problem


# --- aspect ratio -------------------------------------------------------------------------


@pytest.fixture
def one_to_three(content: Path) -> Path:
    image = Image.new("RGB", (1000, 3000), BLUE)
    image.paste(RED, (0, 1400, 1000, 1600))  # a band across the middle
    return save(image, content / "screenshot.png")


def test_one_to_three_without_fit_names_the_ratio_and_fit(one_to_three: Path, cache: Path) -> None:
    problem = run(one_to_three, cache)
    assert isinstance(problem, str)
    assert "1:3 (0.333) is outside 4:5..1.91:1" in problem
    assert "`fit: crop`" in problem and "`fit: pad`" in problem


def test_one_to_three_with_pad_gets_white_bars(one_to_three: Path, cache: Path) -> None:
    out = sendable(run(one_to_three, cache, fit="pad"))
    assert out.size == (1440, 1800)  # 4:5, the picture 600x1800 in the middle
    assert near(out.getpixel((100, 900)), WHITE)
    assert near(out.getpixel((1340, 900)), WHITE)
    assert near(out.getpixel((720, 100)), BLUE)
    assert near(out.getpixel((720, 900)), RED)


def test_one_to_three_with_crop_keeps_the_centre(one_to_three: Path, cache: Path) -> None:
    out = sendable(run(one_to_three, cache, fit="crop"))
    assert out.size == (1000, 1250)
    assert near(out.getpixel((500, 625)), RED)
    assert near(out.getpixel((500, 10)), BLUE)


@pytest.mark.parametrize(
    ("size", "accepted"),
    [
        ((1080, 1358), False),  # 0.7953: a rounded check said 0.80
        ((1080, 1350), True),  # exactly 4:5
        ((1910, 1000), True),  # exactly 1.91:1 (then scaled to 1440x754)
        ((1911, 1000), False),
        ((799, 1000), False),
    ],
)
def test_ratio_check_is_exact(
    content: Path, cache: Path, size: tuple[int, int], accepted: bool
) -> None:
    source = save(Image.new("RGB", size, GREEN), content / "edge.jpg")
    result = run(source, cache)
    if accepted:
        sendable(result)
    else:
        assert isinstance(result, str) and "is outside 4:5..1.91:1" in result


def test_story_has_no_ratio_rule(one_to_three: Path, cache: Path) -> None:
    out = sendable(run(one_to_three, cache, target="story"), feed=False)
    assert out.size == (1000, 3000)


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "TIFF", "HEIF"])
def test_truncated_image_to_convert_is_a_sentence(content: Path, cache: Path, fmt: str) -> None:
    whole = io.BytesIO()
    detailed(1600, 1600).save(whole, fmt)
    source = content / f"cut.{fmt.lower()}"
    source.write_bytes(whole.getvalue()[: whole.tell() // 2])
    problem = run(source, cache)
    assert isinstance(problem, str) and "damaged" in problem and "export it" in problem
    assert not cache.exists()


def test_truncated_jpeg_that_would_be_sent_as_it_is_is_a_sentence(
    content: Path, cache: Path
) -> None:
    whole = io.BytesIO()
    noise(1080, 1080).save(whole, "JPEG", quality=80)
    source = content / "cut.jpg"
    source.write_bytes(whole.getvalue()[: whole.tell() // 2])
    problem = run(source, cache)
    assert isinstance(problem, str) and "truncated" in problem


@pytest.mark.parametrize(
    "data",
    [
        b"this is a text file with an image name\n" * 20,
        b"\xff\xd8\xff\xe0" + b"\x00" * 100,  # a JPEG's first bytes, then nothing
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 400,  # an MP4
    ],
)
def test_file_that_claims_to_be_an_image_and_is_not(
    content: Path, cache: Path, data: bytes
) -> None:
    source = content / "photo.jpg"
    source.write_bytes(data)
    problem = run(source, cache)
    assert isinstance(problem, str) and "not an image" in problem


def test_empty_missing_and_folder_are_sentences(content: Path, cache: Path) -> None:
    (content / "empty.jpg").write_bytes(b"")
    assert "empty" in str(run(content / "empty.jpg", cache))
    assert "cannot be read" in str(convert.convert(content / "missing.jpg", cache))
    (content / "folder.jpg").mkdir()
    assert "not a regular file" in str(convert.convert(content / "folder.jpg", cache))


def test_decompression_bomb_is_a_sentence(content: Path, cache: Path) -> None:
    source = content / "bomb.png"
    source.write_bytes(png_claiming(100_000, 100_000))  # past twice Pillow's limit: it raises
    problem = run(source, cache)
    assert isinstance(problem, str) and "decompression bomb" in problem


def test_image_over_pillows_limit_but_under_twice_it_is_refused_too(
    content: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)  # Pillow only warns up to 2x
    source = save(Image.new("RGB", (1200, 1200), GREEN), content / "wide.png")
    problem = run(source, cache)
    assert isinstance(problem, str) and "1,000,000" in problem


# --- the cache ----------------------------------------------------------------------------


def test_second_call_reuses_the_copy(content: Path, cache: Path) -> None:
    source = save(Image.new("RGB", (2000, 2000), BLUE), content / "a.png")
    first = run(source, cache)
    assert isinstance(first, Path) and first.parent == cache
    made = first.stat().st_mtime_ns
    second = run(source, cache)
    assert second == first
    assert first.stat().st_mtime_ns == made
    assert os.listdir(cache) == [first.name]


def test_cache_is_keyed_by_content_and_options(
    content: Path, cache: Path, one_to_three: Path
) -> None:
    copy = content / "same-bytes.png"
    copy.write_bytes(one_to_three.read_bytes())
    padded = run(one_to_three, cache, fit="pad")
    assert run(copy, cache, fit="pad") == padded  # same bytes, other name
    cropped = run(one_to_three, cache, fit="crop")
    story = run(one_to_three, cache, target="story")
    assert len({padded, cropped, story}) == 3
    # An image in range needs no fit: its copy is the same whatever `fit` says.
    square = save(Image.new("RGB", (1000, 1000), RED), content / "square.png")
    assert run(square, cache, fit="pad") == run(square, cache)


def test_sweep_removes_the_copies_no_job_needs(content: Path, cache: Path) -> None:
    kept = run(save(Image.new("RGB", (500, 500), RED), content / "a.png"), cache)
    gone = run(save(Image.new("RGB", (500, 500), BLUE), content / "b.png"), cache)
    assert isinstance(kept, Path) and isinstance(gone, Path)
    temp = cache / f".{gone.name}.x1y2.publisher-tmp"  # a writer's temp file: not ours to take
    temp.write_bytes(b"partial")
    (cache / "README").write_text("not a copy")
    assert convert.sweep(cache, {kept.name}) == 1
    assert sorted(os.listdir(cache)) == sorted([kept.name, temp.name, "README"])
    assert convert.sweep(cache, {kept.name}) == 0
    assert convert.sweep(cache.parent / "nowhere", set()) == 0


# --- the real pipeline follows the plan --------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    width=st.integers(min_value=1, max_value=2400),
    height=st.integers(min_value=1, max_value=2400),
    fit=st.sampled_from(["crop", "pad"]),
)
def test_real_images_come_out_in_the_planned_size(
    tmp_path_factory: pytest.TempPathFactory, width: int, height: int, fit: str
) -> None:
    folder = tmp_path_factory.mktemp("any")
    source = save(Image.new("RGB", (width, height), GREEN), folder / "any.png")
    out = sendable(run(source, folder / "cache", fit=fit))
    geometry = ratio.plan(width, height, fit=fit, max_width=MAX_WIDTH, feed=True)
    assert geometry is not None and out.size == geometry.canvas


def test_a_link_out_of_content_dir_is_not_read_through_the_opener(
    tmp_path: Path, content: Path, cache: Path
) -> None:
    # The publish flow opens the source with confined.open_beneath: a link swapped in
    # after validation, leading out of content_dir, is refused instead of read and sent.
    outside = save(Image.new("RGB", (1080, 1080), "red"), tmp_path / "secret.png")
    (content / "photo.png").symlink_to(outside)
    result = convert.convert(
        content / "photo.png",
        cache,
        opener=lambda source: confined.open_beneath(content, source),
    )
    assert isinstance(result, str) and "leads outside content_dir" in result
    assert list(cache.glob("*.jpg")) == []
