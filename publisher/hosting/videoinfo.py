"""What a video file holds, read in-process with PyAV (FFmpeg's libraries, in its wheels):
no ffprobe or ffmpeg program is needed.

`probe(path)` reads what Meta's video rules (`videospec`) look at: the container, the video
and audio codecs, the duration, the frame rate, the size, the pixel format, the audio rate
and channels, and whether the `moov` atom (the index of an MP4/MOV file) comes before the
media data. A file FFmpeg cannot read is a sentence naming the fix, never an exception.
`open_input(handle)` is the one way a user's video is opened (probe and transcode): only
demuxers that read the file itself.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

import av

# The demuxers FFmpeg may choose from: the containers a video file comes in, each reading
# only the file itself. Never one that opens other files or URLs named inside the file
# (hls, dash, concat, image2, ...): a hostile draft must not make us read anything else.
FORMATS = "mov,matroska,avi,mpegts,asf,flv"
PROBE_TIMEOUT = 20.0  # seconds; a hostile file must not stall validation for longer
NOT_MP4 = "is not an MP4/MOV video; export it as MP4 (H.264 or HEVC)"

# The top-level boxes an MP4/MOV file can start with (ISO/IEC 14496-12, QuickTime).
_FIRST_BOXES = frozenset(
    {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"junk"}
)
_MAX_BOXES = 64  # a file of millions of tiny boxes must not make the walk long
_BOX = struct.Struct(">I4s")
_LARGE_SIZE = struct.Struct(">Q")


@dataclass(frozen=True)
class VideoInfo:
    """What `read` found in a video file. None: the file does not say."""

    container: str  # FFmpeg's name for it: "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", ...
    video_codec: str | None  # "h264", "hevc", "vp9", ...; None: there is no video stream
    audio_codec: str | None  # "aac", ...; None: there is no sound
    duration: float | None  # seconds
    fps: float | None  # average frames per second
    width: int | None
    height: int | None
    moov_first: bool | None  # the moov atom before mdat; None: not an MP4/MOV file
    pixel_format: str | None = None  # "yuv420p", "yuv444p", "yuv420p10le", ...
    audio_rate: int | None = None  # samples per second
    audio_channels: int | None = None
    size: int = 0  # bytes

    @property
    def is_mp4(self) -> bool:
        """True for an MP4 or MOV container (FFmpeg reads both with one demuxer)."""
        return bool({"mp4", "mov"} & set(self.container.split(",")))


def open_input(handle: BinaryIO) -> av.container.InputContainer:
    """Given an open video file, return it opened by FFmpeg with only the demuxers of
    `FORMATS` (never one that opens other files or URLs). Raise what FFmpeg raises."""
    return av.open(
        handle,
        "r",
        container_options={"format_whitelist": FORMATS},
        metadata_errors="replace",
        timeout=PROBE_TIMEOUT,
    )


def read(handle: BinaryIO) -> VideoInfo | str:
    """Given an open regular file, return what it holds as a video, or a sentence (to follow
    the file's name) saying why it cannot be read and what to do."""
    try:
        size = os.fstat(handle.fileno()).st_size
        handle.seek(0)
        boxes = top_boxes(handle)
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    handle.seek(0)
    try:
        with open_input(handle) as container:
            return _info(container, boxes, size)
    except Exception as exc:  # FFmpeg's errors on hostile input have many types
        return _unreadable(exc, boxes)


def _info(
    container: av.container.InputContainer, boxes: list[bytes] | None, size: int
) -> VideoInfo:
    video = container.streams.video[0] if container.streams.video else None
    audio = container.streams.audio[0] if container.streams.audio else None
    duration = None
    if container.duration is not None and container.duration > 0:
        duration = container.duration / av.time_base
    elif video is not None and video.duration and video.time_base:
        duration = float(video.duration * video.time_base)
    codec = fps = width = height = pixel_format = None
    if video is not None:
        codec = video.codec_context.name
        fps = float(video.average_rate) if video.average_rate else None
        width = video.codec_context.width or None
        height = video.codec_context.height or None
        pixel_format = video.codec_context.pix_fmt or None
    return VideoInfo(
        container=container.format.name,
        video_codec=codec,
        audio_codec=audio.codec_context.name if audio is not None else None,
        duration=duration,
        fps=fps,
        width=width,
        height=height,
        moov_first=_moov_first(boxes) if boxes is not None else None,
        pixel_format=pixel_format,
        audio_rate=(audio.codec_context.sample_rate or None) if audio is not None else None,
        audio_channels=(audio.codec_context.channels or None) if audio is not None else None,
        size=size,
    )


def _unreadable(exc: Exception, boxes: list[bytes] | None) -> str:
    """The sentence for a file FFmpeg could not open."""
    if boxes is None:
        return NOT_MP4  # not even the outline of an MP4/MOV file
    if b"moov" not in boxes and len(boxes) < _MAX_BOXES:
        detail = "moov atom not found"  # the file was cut short, or never finished
    else:
        detail = getattr(exc, "strerror", None) or type(exc).__name__
    return f"cannot be read as a video ({str(detail)[:200]}); export it as MP4"


def _moov_first(boxes: list[bytes]) -> bool | None:
    if b"moov" not in boxes:
        return None
    return b"mdat" not in boxes or boxes.index(b"moov") < boxes.index(b"mdat")


def top_boxes(handle: BinaryIO) -> list[bytes] | None:
    """Given an open file, return the types of its top-level MP4/MOV boxes in file order
    (up to the first moov and mdat, at most `_MAX_BOXES`), or None when the file does not
    start like an MP4/MOV file. A box running past the end of the file ends the list."""
    end = os.fstat(handle.fileno()).st_size
    found: list[bytes] = []
    position = 0
    while position + _BOX.size <= end and len(found) < _MAX_BOXES:
        handle.seek(position)
        size, kind = _BOX.unpack(handle.read(_BOX.size))
        if not found and kind not in _FIRST_BOXES:
            return None
        if size == 1:  # the real size follows, on 64 bits
            large = handle.read(_LARGE_SIZE.size)
            if len(large) < _LARGE_SIZE.size:
                break
            size = _LARGE_SIZE.unpack(large)[0]
        elif size == 0:  # the box runs to the end of the file
            size = end - position
        if size < _BOX.size:
            break  # a damaged box: nothing after it can be found
        found.append(kind)
        if b"moov" in found and b"mdat" in found:
            break
        position += size
    return found if found else None
