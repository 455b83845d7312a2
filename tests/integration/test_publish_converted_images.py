"""Issue 10 point 1, end to end: images Instagram would refuse are published through their
converted copy (SPEC §7). `publishing` runs against the sandbox over real loopback HTTP, the
real ServeHost serves the copies from state_dir/cache, and the sandbox checks what Meta checks
(JPEG, 3 colour components, 8 MiB, the exact feed ratio). The user's file is never written."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

from publisher.commands.publish import publish_draft
from publisher.config import Config
from publisher.errors import DraftError
from publisher.hosting import convert, mediahost
from publisher.job import Job, State
from publisher.sandbox.server import SandboxServer
from tests.support.clock import SleepClock
from tests.support.images import cmyk_profile, noise, png_claiming
from tests.support.site import load_config, make_site, write_draft


def detailed(width: int, height: int) -> Image.Image:
    return Image.effect_mandelbrot((width, height), (-2.0, -1.5, 1.0, 1.5), 100).convert("RGB")


def png(path: Path) -> None:
    detailed(1080, 1080).save(path, "PNG")


def heic(path: Path) -> None:
    detailed(1200, 1500).save(path, "HEIF")


def cmyk(path: Path) -> None:
    Image.new("CMYK", (1000, 1000), (0, 60, 60, 0)).save(path, "JPEG", icc_profile=cmyk_profile())


def rotated(path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    detailed(1350, 1080).save(path, "JPEG", exif=exif)


def big(path: Path) -> None:
    noise(3000, 2400).save(path, "JPEG", quality=100)
    assert path.stat().st_size > 8 * 1024 * 1024


def one_to_three(path: Path) -> None:
    detailed(500, 1500).save(path, "PNG")


CASES: list[tuple[str, Callable[[Path], None], str, Fraction]] = [
    # (file, how it is made, fit, the ratio sent: what the photo shows)
    ("photo.png", png, "", Fraction(1, 1)),
    ("phone.heic", heic, "", Fraction(4, 5)),
    ("print.jpg", cmyk, "", Fraction(1, 1)),
    ("rotated.jpg", rotated, "", Fraction(4, 5)),
    ("big.jpg", big, "", Fraction(5, 4)),
    ("tall.png", one_to_three, "pad", Fraction(4, 5)),
]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def publish(config: Config, name: str, fit: str, fake_time: SleepClock) -> Job:
    text = f"type: post\nmedia: [{name}]\n" + (f"fit: {fit}\n" if fit else "")
    path = write_draft(config, "post", text=text)
    return publish_draft(
        config, path, progress=lambda _line: None, clock=fake_time, sleep=fake_time.sleep
    )


@pytest.mark.slow
@pytest.mark.parametrize(("name", "make", "fit", "shown"), CASES, ids=[c[0] for c in CASES])
def test_image_is_published_as_an_upright_rgb_jpeg(
    site: Config,
    sandbox: SandboxServer,
    fake_time: SleepClock,
    name: str,
    make: Callable[[Path], None],
    fit: str,
    shown: Fraction,
) -> None:
    source = site.content_dir / name
    make(source)
    before = digest(source)

    job = publish(site, name, fit, fake_time)

    assert job.state is State.PUBLISHED, job.error
    assert len(sandbox.posts()) == 1  # the sandbox fetched and checked the copy
    assert digest(source) == before
    cache = mediahost.cache_dir(site)
    [entry] = list(cache.iterdir())
    # the copy the job sent: convert finds it in the cache (same bytes, same options)
    assert convert.convert(source, cache, fit=fit or None, target="feed") == entry  # type: ignore[arg-type]
    with Image.open(entry) as sent:
        assert (sent.format, sent.mode) == ("JPEG", "RGB")
        assert len(sent.getbands()) == 3
        assert sent.getexif().get(0x0112) in (None, 1)
        width, height = sent.size
    assert width <= 1440
    assert entry.stat().st_size <= 8 * 1024 * 1024
    assert abs(Fraction(width, height) - shown) < Fraction(1, 100)


@pytest.mark.slow
def test_one_to_three_without_fit_is_refused_naming_the_ratio_and_fit(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    one_to_three(site.content_dir / "tall.png")
    with pytest.raises(DraftError) as raised:
        publish(site, "tall.png", "", fake_time)
    [problem] = raised.value.problems
    assert problem.field == "media[0]"
    assert "1:3 (0.333)" in problem.message
    assert "set fit: crop or fit: pad" in problem.message
    assert sandbox.posts() == []


@pytest.mark.slow
def test_image_that_cannot_be_converted_fails_the_job_naming_it(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    # The header is fine (validation reads headers only); the pixels are cut short.
    (site.content_dir / "cut.png").write_bytes(png_claiming(800, 800))
    job = publish(site, "cut.png", "", fake_time)
    assert job.state is State.FAILED
    assert job.error is not None and "'cut.png'" in job.error
    assert sandbox.posts() == []


@pytest.mark.slow
def test_base_url_host_cannot_send_a_converted_copy(
    tmp_path: Path, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    config = load_config(
        make_site(
            tmp_path,
            account={"base_url": sandbox.base_url},
            media={"host": "base_url", "public_url": "http://127.0.0.1:9/media"},
        )
    )
    png(config.content_dir / "photo.png")
    job = publish(config, "photo.png", "", fake_time)
    assert job.state is State.FAILED
    assert job.error is not None
    assert "'photo.png' must be converted" in job.error
    assert "media.host: serve or s3" in job.error
    assert sandbox.posts() == []
