"""The sandbox's look at a downloaded video, the way Meta's processing fails one (issue 10,
point 7): not only the first bytes, but the codecs (read with PyAV) and where the `moov`
atom is.

`problem(handle)` returns the subcode the container's ERROR status carries (2207026,
"unsupported video format": Meta's one answer for a video it cannot take), or None. Written
apart from publisher.hosting.videoinfo on purpose: a fake that shared the code under test
would agree with its mistakes.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

import av

SUBCODE_FORMAT = 2207026
VIDEO_CODECS = frozenset({"h264", "hevc"})  # instagram-api.md §6 "Reels"
AUDIO_CODECS = frozenset({"aac"})
_HEADER = struct.Struct(">I4s")
_MAX_BOXES = 64


def problem(handle: BinaryIO) -> int | None:
    """Given the downloaded file, return 2207026 when Instagram would refuse it (no moov
    atom before the media data, a video codec other than H.264/HEVC, sound other than
    AAC, a file FFmpeg cannot read), else None."""
    if not _moov_before_mdat(handle):
        return SUBCODE_FORMAT
    handle.seek(0)
    try:
        with av.open(handle, "r", format="mp4") as container:
            if not container.streams.video:
                return SUBCODE_FORMAT
            if container.streams.video[0].codec_context.name not in VIDEO_CODECS:
                return SUBCODE_FORMAT
            audio = container.streams.audio
            if audio and audio[0].codec_context.name not in AUDIO_CODECS:
                return SUBCODE_FORMAT
    except Exception:  # FFmpeg's errors on a broken file have many types
        return SUBCODE_FORMAT
    return None


def _moov_before_mdat(handle: BinaryIO) -> bool:
    """Walk the top-level boxes: True if `moov` comes before `mdat` (a streamable file)."""
    handle.seek(0, 2)
    end = handle.tell()
    position = 0
    for _ in range(_MAX_BOXES):
        if position + _HEADER.size > end:
            return False
        handle.seek(position)
        size, kind = _HEADER.unpack(handle.read(_HEADER.size))
        if kind == b"moov":
            return True
        if kind == b"mdat":
            return False
        if size == 1:
            size = struct.unpack(">Q", handle.read(8))[0]
        if size < _HEADER.size:
            return False
        position += size
    return False
