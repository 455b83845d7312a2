"""Small real videos made at run time with PyAV, so that no big file is committed: a few
frames of colour (and silence), encoded as asked."""

from __future__ import annotations

from pathlib import Path

import av
from PIL import Image

SAMPLE_RATE = 8000


def write_video(
    path: Path,
    *,
    seconds: float = 3.5,
    fps: int = 24,
    size: tuple[int, int] = (64, 112),
    codec: str | None = "h264",
    audio: str | None = "aac",
    container: str | None = None,
    moov_first: bool = True,
) -> Path:
    """Write a video of `seconds` at `fps` to `path` and return the path (`codec=None`: sound
    only). `container` is
    FFmpeg's muxer name (None: from the suffix: .mp4, .mkv, .avi); `moov_first=False` leaves
    an MP4's moov atom at the end, where FFmpeg writes it unless asked to move it."""
    is_mp4 = (container or path.suffix.lstrip(".").lower()) in ("mp4", "mov")
    options = {"movflags": "faststart"} if is_mp4 and moov_first else {}
    with av.open(str(path), "w", format=container, options=options) as out:
        sound = out.add_stream(audio, rate=SAMPLE_RATE, layout="mono") if audio else None
        if codec is not None:
            video = out.add_stream(codec, rate=fps)
            video.width, video.height = size
            video.pix_fmt = "yuv420p"
            if codec in ("hevc", "libx265"):
                # x265's own thread pool crashed one encode in ~900 under load (SIGSEGV in
                # the flush): one thread, no pool
                video.options = {"x265-params": "log-level=none:pools=none:frame-threads=1"}
            for number in range(round(seconds * fps)):
                picture = Image.new("RGB", size, (number * 3 % 256, 80, 120))
                out.mux(video.encode(av.VideoFrame.from_image(picture)))
            out.mux(video.encode())
        if sound is not None:
            total = round(seconds * SAMPLE_RATE)
            for start in range(0, total, 1024):
                frame = av.AudioFrame(
                    format="fltp", layout="mono", samples=min(1024, total - start)
                )
                frame.planes[0].update(bytes(frame.planes[0].buffer_size))
                frame.sample_rate = SAMPLE_RATE
                frame.pts = start
                out.mux(sound.encode(frame))
            out.mux(sound.encode())
    return path
