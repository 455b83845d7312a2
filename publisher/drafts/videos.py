"""Whether a video can be sent to Instagram (SPEC §4, §7), probed in-process with PyAV.

`check(path, role, transcode=...)` returns the `Finding`s: what `hosting.videoinfo` reads,
against the rules of `hosting.videospec` (the one table, with its sources). A rule that a
transcode mends (container, codecs, frame rate, width, `moov` atom, ...) is a warning with
`media.transcode: auto` (publisher sends a transcoded copy) and an error naming the rule
with `never`; a rule no transcode mends (duration, shape) and a file FFmpeg cannot read
are errors either way. `duration(path)` is the length a reel's `thumb_offset` must stay under.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from publisher.confined import open_regular
from publisher.drafts.media import Finding, Role
from publisher.hosting import videoinfo, videospec
from publisher.hosting.videoinfo import NOT_MP4, VideoInfo

Transcode = Literal["auto", "never"]

__all__ = ["NOT_MP4", "Transcode", "VideoInfo", "check", "duration", "probe", "top_boxes"]

top_boxes = videoinfo.top_boxes
USES: dict[Role, videospec.Use] = {"reel": "reel", "story": "story", "carousel": "carousel"}


def probe(path: Path) -> VideoInfo | str:
    """Given a local file, return what it holds as a video, or a sentence (to follow the
    file's name) saying why it cannot be read and what to do."""
    try:
        handle = open_regular(path)
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    with handle:
        return videoinfo.read(handle)


def check(path: Path, role: Role, *, transcode: Transcode = "auto") -> list[Finding]:
    """Given a local video file, its role (reel, story, carousel) and `media.transcode`,
    return its problems."""
    use = USES.get(role)
    if use is None:
        return []  # a post or a cover: the caller reports the wrong media kind
    try:
        size = path.stat().st_size
    except OSError as exc:
        return [Finding(f"cannot be read: {exc.strerror}")]
    if size == 0:
        return [Finding("is empty (0 bytes); export the video again")]
    limit = videospec.SPECS[use].max_bytes
    if transcode == "never" and size > limit:  # no need to open it to know
        return [_never("file size", f"is {size / 1e6:.1f} MB; at most {limit // 10**6} MB")]
    info = probe(path)
    if isinstance(info, str):
        return [Finding(info)]
    if info.video_codec is None:
        return [Finding(NOT_MP4)]
    findings: list[Finding] = []
    mended: list[str] = []
    for breach in videospec.breaches(info, use):
        if not breach.fixable:
            findings.append(Finding(breach.message))
        elif transcode == "never":
            findings.append(_never(breach.rule, breach.message))
        else:
            mended.append(breach.rule)
    if mended and not findings:
        findings.append(
            Finding(
                f"breaks Instagram's video rules ({', '.join(mended)}): publisher sends a "
                "transcoded copy (H.264, AAC, moov first; media.transcode: auto)",
                "warning",
            )
        )
    return findings


def duration(path: Path) -> float | None:
    """The video's length in seconds, or None when it cannot be read."""
    info = probe(path)
    return info.duration if isinstance(info, VideoInfo) else None


def _never(rule: str, message: str) -> Finding:
    return Finding(
        f"breaks Instagram's {rule} rule: it {message}; export it again, or set "
        "media.transcode: auto to let publisher transcode it"
    )
