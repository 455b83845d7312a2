"""The MP4 that is sent: a video transcoded into what Instagram takes, never in place (SPEC §7).

`transcode(source, cache_dir, use=..., progress=...)` returns the path of a video Instagram
takes for that use (reel, story, carousel item; the rules are `videospec`'s one table), or a
sentence saying why it cannot be sent (it reads after the file's name). A video that keeps
every rule is returned as it is; any other is transcoded once into `cache_dir`
(state_dir/cache/, named after the sha256 of its bytes: `cache`) and that copy is reused.

What a transcode makes: H.264 High (libx264 from PyAV's wheel; libopenh264 when a build has
only that), 8-bit 4:2:0, closed GOP, the source's frame rate when it is 23..60 fps (else 30),
at most 1920 px wide, the picture turned upright when the file asks a player to turn it;
AAC at 128 kbps, at most 48 kHz, mono or stereo; video at most 25 Mbps and less when the
size limit of the use needs it; an MP4 with its `moov` atom at the front (`movflags
faststart`). Frames are decoded, filtered and encoded one at a time, so memory stays bounded
whatever the length. It runs where image conversion runs: in the publishing worker, before
the container is made, never on the daemon's main loop.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import av.filter

from publisher.hosting import cache, videoinfo, videospec
from publisher.hosting.videospec import Use
from publisher.store import atomicfile

log = logging.getLogger(__name__)

RECIPE = 1  # bump when the output for a given source changes: old copies are then swept
ENCODERS = ("libx264", "libopenh264")  # in order of preference; H.264 either way
PRESET = "veryfast"  # 2 shared cores: speed over the last few percent of size
CRF = "23"
SIZE_MARGIN = 0.9  # of a use's byte limit, when the limit sets the bitrate
# OS errors that say the cache cannot be written: raised, not turned into a draft problem.
_WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EACCES, errno.EROFS})

# The fraction done (0..1); called as the transcode goes, from the thread that runs it.
Progress = Callable[[float], None]


def encoder() -> str | None:
    """The H.264 encoder this PyAV build has, or None."""
    available = av.codecs_available
    return next((name for name in ENCODERS if name in available), None)


def transcode(
    source: Path,
    cache_dir: Path,
    *,
    use: Use,
    opener: Callable[[Path], BinaryIO] | None = None,
    progress: Progress | None = None,
) -> Path | str:
    """Given the path of a video (already checked to be a regular file inside content_dir),
    the cache folder (made if missing) and the video's use, return the path of a video
    Instagram takes: `source` itself when it keeps every rule of `videospec`, else its
    transcoded copy in `cache_dir`, made once (atomically) and reused. Return a sentence
    when it cannot be sent: unreadable, or a rule no transcode mends (duration, shape).

    The source is only read. `opener` opens it (the publish flow passes one that refuses a
    link swapped in to lead out of content_dir). `progress` hears the fraction done while a
    copy is made. Raise OSError when the cache cannot be written (a full disk)."""
    try:
        handle = opener(source) if opener is not None else _open(source)
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    with handle:
        info = videoinfo.read(handle)
        if isinstance(info, str):
            return info
        breaches = videospec.breaches(info, use)
        if not breaches:
            return source
        fatal = [breach for breach in breaches if not breach.fixable]
        if fatal:
            return fatal[0].message
        entry = cache_dir / cache.video_name(cache.digest_of(handle), use, RECIPE)
        if entry.exists():
            return entry
        name = encoder()
        if name is None:
            return (
                f"{breaches[0].message}, and this PyAV build has no H.264 encoder to "
                "transcode it: export it as MP4 (H.264, AAC)"
            )
        started = time.monotonic()
        cache_dir.mkdir(parents=True, exist_ok=True)
        with _temp_beside(entry) as temp:
            problem = _run(
                handle, temp, info=info, use=use, encoder_name=name, progress=progress or _silent
            )
            if problem is not None:
                return problem
            with open(temp, "rb") as made:
                os.fsync(made.fileno())
            os.replace(temp, entry)
        atomicfile.fsync_folder(cache_dir)
    log.info(
        "transcoded %s to %s (%s) in %.1f s",
        source,
        entry.name,
        ", ".join(breach.rule for breach in breaches),
        time.monotonic() - started,
    )
    return entry


def _silent(_fraction: float) -> None:
    """No one is listening."""


def _open(path: Path) -> BinaryIO:
    """Open a regular file for reading, never blocking on a FIFO swapped in."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    return os.fdopen(fd, "rb")


@contextlib.contextmanager
def _temp_beside(entry: Path) -> Iterator[Path]:
    """A temp file name beside `entry` (the sweep clears it if we are killed), removed on
    the way out unless it was renamed into place."""
    fd, name = tempfile.mkstemp(
        dir=entry.parent, prefix=f".{entry.name}.", suffix=atomicfile.TEMP_SUFFIX
    )
    os.close(fd)
    try:
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def _run(
    handle: BinaryIO,
    target: Path,
    *,
    info: videoinfo.VideoInfo,
    use: Use,
    encoder_name: str,
    progress: Progress,
) -> str | None:
    """Transcode the open source into `target`; None when done, else the sentence."""
    try:
        turn, width, height = _shown(handle)
        handle.seek(0)
        with (
            videoinfo.open_input(handle) as source,
            av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as out,
        ):
            pipeline = _Pipeline(
                source, out, info=info, use=use, encoder_name=encoder_name, progress=progress
            )
            pipeline.shape(turn, width, height)
            pipeline.run()
    except av.FFmpegError as exc:
        if getattr(exc, "errno", None) in _WRITE_ERRORS:
            raise OSError(exc.errno, f"cannot write the transcoded copy: {exc}") from exc
        detail = (str(exc).strip().splitlines() or ["?"])[0][:160]
        log.debug("transcode failed: %r", exc)
        return f"could not be transcoded ({detail}); export it as MP4 (H.264, AAC)"
    return None


def _shown(handle: BinaryIO) -> tuple[int, int, int]:
    """The turn (clockwise degrees, as ffmpeg's autorotate reads the display matrix) and the
    stored width and height, from the first decoded frame (the encoder needs its size before
    anything is written)."""
    handle.seek(0)
    with videoinfo.open_input(handle) as source:
        for frame in source.decode(video=0):
            assert isinstance(frame, av.VideoFrame)
            return round(-(frame.rotation or 0)) % 360, frame.width, frame.height
    raise av.InvalidDataError(errno.EINVAL, "no video frame could be decoded")


class _Pipeline:
    """One transcode: demux, decode, filter (turn, frame rate, size, 4:2:0), encode, mux,
    one packet at a time."""

    def __init__(
        self,
        source: av.container.InputContainer,
        out: av.container.OutputContainer,
        *,
        info: videoinfo.VideoInfo,
        use: Use,
        encoder_name: str,
        progress: Progress,
    ) -> None:
        self.source, self.out, self.info, self.progress = source, out, info, progress
        self.video_in = source.streams.video[0]
        self.video_in.thread_type = "AUTO"
        self.audio_in = source.streams.audio[0] if source.streams.audio else None
        average = self.video_in.average_rate
        self.fps = Fraction(videospec.FPS_DEFAULT)
        if average and videospec.output_fps(float(average)) != videospec.FPS_DEFAULT:
            self.fps = Fraction(average).limit_denominator(1001)
        video_out = out.add_stream(encoder_name, rate=self.fps)
        assert isinstance(video_out, av.VideoStream)
        self.video_out = video_out
        self.video_out.pix_fmt = "yuv420p"
        self.video_out.options = _video_options(encoder_name, info, use)
        self.audio_out: av.AudioStream | None = None
        self.resampler: av.AudioResampler | None = None
        if self.audio_in is not None:
            rate_in = self.audio_in.codec_context.sample_rate or videospec.MAX_AUDIO_RATE
            channels = self.audio_in.codec_context.channels or 1
            layout = "mono" if channels == 1 else "stereo"
            sample_rate = min(rate_in, videospec.MAX_AUDIO_RATE)
            audio_out = out.add_stream("aac", rate=sample_rate, layout=layout)
            assert isinstance(audio_out, av.AudioStream)
            audio_out.bit_rate = videospec.AUDIO_BITRATE
            self.audio_out = audio_out
            self.resampler = av.AudioResampler(
                format="fltp", layout=layout, rate=sample_rate, frame_size=1024
            )
        self.graph: av.filter.Graph | None = None
        self.steps: list[str] = []
        self.frames_out = 0
        self.samples_out = 0
        self.reported = -1

    def run(self) -> None:
        streams = [self.video_in] + ([self.audio_in] if self.audio_in is not None else [])
        for packet in self.source.demux(*streams):
            if packet.stream is self.video_in:
                for frame in packet.decode():
                    assert isinstance(frame, av.VideoFrame)
                    self._video(frame)
            elif packet.stream is self.audio_in:
                for sound in packet.decode():
                    assert isinstance(sound, av.AudioFrame)
                    self._audio(sound)
        if self.graph is not None:
            self._drain(flush=True)
        self.out.mux(self.video_out.encode(None))
        if self.audio_out is not None and self.resampler is not None:
            for chunk in self.resampler.resample(None):
                self._encode_audio(chunk)
            self.out.mux(self.audio_out.encode(None))
        self.progress(1.0)

    def shape(self, turn: int, width: int, height: int) -> None:
        """Set the output size and the filters: turned upright, constant frame rate, at most
        1920 px wide, 4:2:0."""
        turns = {90: ["transpose=clock"], 180: ["hflip", "vflip"], 270: ["transpose=cclock"]}
        shown = (height, width) if turn in (90, 270) else (width, height)
        out_width, out_height = videospec.output_size(*shown)
        self.video_out.width, self.video_out.height = out_width, out_height
        self.steps = [*turns.get(turn, []), f"fps={self.fps}"]
        self.steps += [f"scale={out_width}:{out_height}", "format=yuv420p"]

    def _video(self, frame: av.VideoFrame) -> None:
        if self.graph is None:
            self.graph = self._filters()
        self.graph.vpush(frame)
        self._drain(flush=False)
        if frame.time is not None and self.info.duration:
            done = min(frame.time / self.info.duration, 0.99)
            if int(done * 100) != self.reported:
                self.reported = int(done * 100)
                self.progress(done)

    def _filters(self) -> av.filter.Graph:
        graph = av.filter.Graph()
        nodes = [graph.add_buffer(template=self.video_in)]
        for step in self.steps:
            filter_name, _, arguments = step.partition("=")
            nodes.append(graph.add(filter_name, arguments or None))
        nodes.append(graph.add("buffersink"))
        graph.link_nodes(*nodes).configure()
        return graph

    def _drain(self, *, flush: bool) -> None:
        assert self.graph is not None
        if flush:
            self.graph.vpush(None)
        while True:
            try:
                frame = self.graph.vpull()
            except (av.BlockingIOError, av.EOFError):
                return
            frame.pts = self.frames_out
            frame.time_base = 1 / self.fps
            self.frames_out += 1
            self.out.mux(self.video_out.encode(frame))

    def _audio(self, sound: av.AudioFrame) -> None:
        assert self.resampler is not None
        sound.pts = None  # the resampler counts samples itself
        for chunk in self.resampler.resample(sound):
            self._encode_audio(chunk)

    def _encode_audio(self, chunk: av.AudioFrame) -> None:
        assert self.audio_out is not None
        chunk.pts = self.samples_out
        chunk.time_base = Fraction(1, chunk.sample_rate)
        self.samples_out += chunk.samples
        self.out.mux(self.audio_out.encode(chunk))


def _video_options(encoder_name: str, info: videoinfo.VideoInfo, use: Use) -> dict[str, object]:
    """The encoder's options: quality by CRF, the peak bitrate capped at Meta's 25 Mbps, or
    lower when the use's byte limit over the video's duration asks for less."""
    ceiling = videospec.MAX_VIDEO_BITRATE
    if info.duration:
        budget = videospec.SPECS[use].max_bytes * 8 * SIZE_MARGIN / info.duration
        ceiling = int(min(ceiling, budget - videospec.AUDIO_BITRATE))
    ceiling = max(ceiling, 200_000)
    if encoder_name == "libopenh264":
        return {"profile": "high", "b": str(ceiling), "maxrate": str(ceiling)}
    return {
        "preset": PRESET,
        "profile": "high",
        "crf": CRF,
        "maxrate": str(ceiling),
        "bufsize": str(ceiling * 2),
        "x264-params": "open-gop=0:log-level=none",
        "threads": "0",
    }
