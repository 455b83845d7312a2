"""What a signed link is bound to: the identity of the file it was made for, checked on
the opened descriptor before a byte is sent (issue 8: a media file, or a folder on its path,
swapped after the link was made must never serve another file).

A `Binding` is the file's device, inode, size, modification time (ns) and the sha256 of its
bytes, taken from the descriptor `url_for` opened (through `confined.open_beneath`: no
link followed out of the folder). A request opens the file the same way, fstat()s that
descriptor and serves from it only if the binding still holds; anything else is a 404.

Why the hash is checked, and why not by reading the file per request: (device, inode) catch
every swap (a rename, a symlink, a folder on the path: another file is another inode) and
size + mtime catch an append or a rewrite. What they cannot catch is a rewrite in place of
the same inode that keeps the size and sets the mtime back (`touch -r`, os.utime: allowed
to whoever can write the file), or a new file given the inode number of a deleted one with
the same size and mtime. The content hash catches both, and it is cheap to check: `Digests`
keeps each file's hash by its full stat, which includes st_ctime_ns; the kernel sets ctime
on every write, utime and creation, and no user can set it back, so an unchanged stat means
unchanged bytes and the hash is looked up, not recomputed. (The kernel's clock for ctime is
coarse, a few ms: a write in the same tick as the hash could keep the stat, so a file
changed less than `RACY` before it was hashed is not remembered, like git's "racily clean"
entries: it is hashed again at the next request.) So a file is hashed once when its link is
made (a 1 GB video: 1-2 s of one core, docs/benchmarks.md), again only if its stat changed
(most often the link is refused before that: another inode, size or mtime), and once after
a restart (at the first request of a link made before it).

A converted copy in state_dir/cache (`/c/` links) is bound without its mtime: the publish
flow touches a copy's mtime each time a job links it (to keep it from the cache sweep), and
only the daemon writes the cache (each copy a new file, written atomically); its hash is
still checked.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import BinaryIO

HASH = "sha256"
_READ = 1024 * 1024
_NO_MTIME = "-"
_HEX = "[0-9a-f]{1,16}"
_TEXT = re.compile(rf"^({_HEX})\.({_HEX})\.({_HEX})\.({_HEX}|-)\.([A-Za-z0-9_-]{{43}})$")
RACY = 2_000_000_000  # ns: a stat this fresh may not yet show a write made just now


@dataclass(frozen=True)
class Binding:
    """A file's identity as a link carries it (in clear: nothing here is a secret; the
    signature covers it)."""

    device: int
    inode: int
    size: int
    mtime_ns: int | None  # None: not bound (converted copies, module doc)
    sha256: bytes

    def text(self) -> str:
        """`{dev}.{ino}.{size}.{mtime_ns or -}.{sha256}`: hex numbers, base64url hash."""
        mtime = _NO_MTIME if self.mtime_ns is None else f"{self.mtime_ns:x}"
        digest = base64.urlsafe_b64encode(self.sha256).decode("ascii").rstrip("=")
        return f"{self.device:x}.{self.inode:x}.{self.size:x}.{mtime}.{digest}"

    @classmethod
    def parse(cls, text: str) -> Binding | None:
        """The binding `text` spells, or None if it is not one."""
        match = _TEXT.match(text)
        if match is None:
            return None
        device, inode, size = (int(part, 16) for part in match.group(1, 2, 3))
        mtime = None if match[4] == _NO_MTIME else int(match[4], 16)
        return cls(device, inode, size, mtime, base64.urlsafe_b64decode(match[5] + "="))

    def holds_for(self, info: os.stat_result) -> bool:
        """True when an opened file's fstat() is the bound file's (the hash aside)."""
        return (
            info.st_dev == self.device
            and info.st_ino == self.inode
            and info.st_size == self.size
            and (self.mtime_ns is None or info.st_mtime_ns == self.mtime_ns)
        )


def _stat_key(info: os.stat_result) -> tuple[int, int, int, int, int]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class Digests:
    """The sha256 of files by their full stat (module doc), the newest `capacity` kept;
    a file changed less than `racy` ns before it was hashed is not kept. Thread-safe: the
    server's request threads and the publishing workers share it."""

    def __init__(self, capacity: int = 512, *, racy: int = RACY) -> None:
        self._capacity = capacity
        self._racy = racy
        self._known: OrderedDict[tuple[int, int, int, int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, handle: BinaryIO, info: os.stat_result) -> bytes | None:
        """Given an open regular file and its fstat(), return the sha256 of its first
        `info.st_size` bytes: known, or read now (from the start; the position is left
        anywhere). Return None if the file changed while it was read (it is not the file
        `info` describes any more). Raise OSError if it cannot be read."""
        key = _stat_key(info)
        with self._lock:
            known = self._known.get(key)
            if known is not None:
                self._known.move_to_end(key)
                return known
        started = time.time_ns()
        digest = _hash(handle, info.st_size)
        if digest is None or _stat_key(os.fstat(handle.fileno())) != key:
            return None
        if started - info.st_ctime_ns < self._racy:
            return digest
        with self._lock:
            self._known[key] = digest
            while len(self._known) > self._capacity:
                self._known.popitem(last=False)
        return digest


def bind(handle: BinaryIO, digests: Digests, *, with_mtime: bool = True) -> Binding:
    """Given a regular file opened for reading, return its Binding (its hash through
    `digests`). Raise OSError if it cannot be read or changed while it was read."""
    info = os.fstat(handle.fileno())
    digest = digests.of(handle, info)
    if digest is None:
        raise OSError(0, "the file changed while it was read; try again once it is saved")
    mtime = info.st_mtime_ns if with_mtime else None
    return Binding(info.st_dev, info.st_ino, info.st_size, mtime, digest)


def still(binding: Binding, handle: BinaryIO, digests: Digests) -> bool:
    """True when the opened file is the one `binding` was made for: same device, inode,
    size, mtime (when bound) and bytes. Raise OSError if it cannot be read."""
    info = os.fstat(handle.fileno())
    if not binding.holds_for(info):
        return False
    return digests.of(handle, info) == binding.sha256


def _hash(handle: BinaryIO, size: int) -> bytes | None:
    """The sha256 of the first `size` bytes, or None if the file is shorter now."""
    digest = hashlib.new(HASH)
    handle.seek(0)
    remaining = size
    while remaining > 0:
        chunk = handle.read(min(_READ, remaining))
        if not chunk:
            return None
        digest.update(chunk)
        remaining -= len(chunk)
    return digest.digest()
