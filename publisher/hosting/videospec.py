"""What Instagram takes as a video, in one table, and the rules a probed video breaks.

Every video rule of publisher comes from here: validation (`drafts.videos`), the transcode
(`hosting.transcode`: what it makes, and whether it is needed). `breaches(info, use)` lists
the rules a video breaks; each says whether a transcode can mend it (`fixable`).

Meta's video spec (instagram-api.md §6; Meta's IG User Media reference, read 2026-09):

| rule | reel, carousel item | story | source |
| --- | --- | --- | --- |
| container | MP4 or MOV, `moov` atom at the front, no edit lists | same | [MEDIA] "Reels" |
| video codec | H.264 or HEVC, progressive, closed GOP, 4:2:0 | same | [MEDIA] "Reels" |
| audio | AAC, at most 48 kHz, mono or stereo (128 kbps) | same | [MEDIA] |
| frame rate | 23 to 60 fps | same | [MEDIA] |
| width | at most 1920 px | same | [MEDIA] |
| bitrate | video VBR at most 25 Mbps | same | [MEDIA] |
| aspect ratio | 0.01:1 to 10:1 | 0.1:1 to 10:1 | [MEDIA] |
| duration | 3 s to 15 min | 3 s to 60 s | [MEDIA] |
| file size | 300 MB (older copies: 1 GB) | 100 MB | [MEDIA] |

Carousel videos have no spec of their own in Meta's pages: the reel spec is the safe one
(instagram-api.md §6 "Carousel"). Not checked (the transcode's output meets them, and
FFmpeg does not tell them cheaply): edit lists, closed GOP, progressive scan.

[MEDIA] https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from publisher.hosting.videoinfo import VideoInfo

Use = Literal["reel", "story", "carousel"]

VIDEO_CODECS = frozenset({"h264", "hevc"})
AUDIO_CODECS = frozenset({"aac"})
PIXEL_FORMATS = frozenset({"yuv420p", "yuvj420p", "nv12"})  # 8-bit 4:2:0
FPS_MIN, FPS_MAX = 23.0, 60.0
FPS_DEFAULT = 30  # what a transcode makes of a frame rate outside FPS_MIN..FPS_MAX
MAX_WIDTH = 1920
MAX_AUDIO_RATE = 48_000
MAX_CHANNELS = 2
MAX_VIDEO_BITRATE = 25_000_000  # bits per second
AUDIO_BITRATE = 128_000  # what a transcode makes (Meta's figure)


@dataclass(frozen=True)
class Spec:
    """The rules that differ by use."""

    min_seconds: float
    max_seconds: float
    max_bytes: int
    min_ratio: Fraction  # width / height
    max_ratio: Fraction


SPECS: dict[Use, Spec] = {
    "reel": Spec(3.0, 15 * 60.0, 300 * 1000 * 1000, Fraction(1, 100), Fraction(10)),
    "carousel": Spec(3.0, 15 * 60.0, 300 * 1000 * 1000, Fraction(1, 100), Fraction(10)),
    "story": Spec(3.0, 60.0, 100 * 1000 * 1000, Fraction(1, 10), Fraction(10)),
}


@dataclass(frozen=True)
class Breach:
    """One rule a video breaks. `rule` names it for the user (`media.transcode: never`
    errors start with it); `message` reads after the file's name; `fixable`: a transcode
    makes a copy that keeps the rule."""

    rule: str
    message: str
    fixable: bool


def breaches(info: VideoInfo, use: Use) -> list[Breach]:
    """Given what `videoinfo.read` found and the video's use, return the rules it breaks, in
    the order a user would fix them (what no transcode mends first)."""
    spec = SPECS[use]
    if info.video_codec is None:
        return [Breach("container", "has no video stream; export it as MP4 (H.264)", False)]
    found: list[Breach] = []
    if info.duration is None:
        found.append(Breach("duration", "has no readable duration; export it again", False))
    elif not spec.min_seconds <= info.duration <= spec.max_seconds:
        found.append(
            Breach(
                "duration",
                f"lasts {info.duration:.1f} s; a {use} video lasts {seconds(spec.min_seconds)} "
                f"to {seconds(spec.max_seconds)}: trim or extend it",
                False,
            )
        )
    if info.width and info.height:
        shape = Fraction(info.width, info.height)
        if not spec.min_ratio <= shape <= spec.max_ratio:
            found.append(
                Breach(
                    "aspect ratio",
                    f"is {info.width}x{info.height}; a {use} video is from "
                    f"{_ratio(spec.min_ratio)} to {_ratio(spec.max_ratio)} (width:height): "
                    "crop it",
                    False,
                )
            )
    found.extend(_fixable(info, spec))
    return found


def _fixable(info: VideoInfo, spec: Spec) -> list[Breach]:
    found: list[Breach] = []

    def add(rule: str, message: str) -> None:
        found.append(Breach(rule, message, True))

    if not info.is_mp4:
        add("container", f"is a {info.container.split(',')[0]} file; Instagram takes MP4 or MOV")
    elif info.moov_first is not True:
        add("moov atom", "has its moov atom at the end; Instagram needs it at the front")
    if info.video_codec not in VIDEO_CODECS:
        add("video codec", f"uses the {info.video_codec} codec; Instagram takes H.264 or HEVC")
    if info.pixel_format is not None and info.pixel_format not in PIXEL_FORMATS:
        add("pixel format", f"is {info.pixel_format}; Instagram takes 8-bit 4:2:0 (yuv420p)")
    if info.audio_codec is not None and info.audio_codec not in AUDIO_CODECS:
        add("audio codec", f"has {info.audio_codec} sound; Instagram takes AAC (or no sound)")
    if info.audio_rate is not None and info.audio_rate > MAX_AUDIO_RATE:
        add("audio rate", f"has sound at {info.audio_rate} Hz; Instagram takes up to 48 kHz")
    if info.audio_channels is not None and info.audio_channels > MAX_CHANNELS:
        add("audio channels", f"has {info.audio_channels} sound channels; Instagram takes 2")
    if info.fps is not None and not FPS_MIN <= info.fps <= FPS_MAX:
        add("frame rate", f"has {info.fps:g} fps; Instagram takes {FPS_MIN:g} to {FPS_MAX:g} fps")
    if info.width is not None and info.width > MAX_WIDTH:
        add("width", f"is {info.width} px wide; Instagram takes at most {MAX_WIDTH} px")
    if info.size > spec.max_bytes:
        add("file size", f"is {info.size / 1e6:.1f} MB; at most {spec.max_bytes // 10**6} MB")
    elif info.duration and info.size * 8 / info.duration > MAX_VIDEO_BITRATE + AUDIO_BITRATE:
        rate = info.size * 8 / info.duration / 1e6
        add("bitrate", f"runs at {rate:.0f} Mbps; Instagram takes at most 25 Mbps")
    return found


def output_fps(fps: float | None) -> float:
    """The frame rate a transcode makes: the source's when Meta takes it, else 30."""
    if fps is not None and FPS_MIN <= fps <= FPS_MAX:
        return fps
    return FPS_DEFAULT


def output_size(width: int, height: int) -> tuple[int, int]:
    """The picture size a transcode makes: at most MAX_WIDTH wide, the shape kept, both
    sides even (4:2:0 needs them so)."""
    if width > MAX_WIDTH:
        width, height = MAX_WIDTH, max(2, round(height * MAX_WIDTH / width))
    return width - width % 2, max(2, height - height % 2)


def seconds(value: float) -> str:
    """A duration limit as a user reads it: "3 s", "60 s", "15 min"."""
    return f"{value / 60:g} min" if value >= 60 * 2 else f"{value:g} s"


def _ratio(value: Fraction) -> str:
    return f"{float(value):g}:1"
