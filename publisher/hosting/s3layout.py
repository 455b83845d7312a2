"""Where `media.host: s3` puts a file in the bucket, and which keys are its own.

    {prefix}{owner}/{sha256 of the bytes}/{the file's name in plain ASCII}

The owner is the job the file is sent for (`UNOWNED` when the caller names none; the
doctor's check uses `check-<random>`). The digest makes a re-upload of the same bytes for the
same job unnecessary; the owner lets a job's objects be listed and deleted together, and a
sweep tell ours (this shape) from anything else under the prefix.
"""

from __future__ import annotations

import re
import unicodedata

UNOWNED = "unowned"

_OWNER = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def is_owner(text: str) -> bool:
    """True if `text` can name a job's folder (letters, digits, `_`, `-`)."""
    return bool(_OWNER.match(text))


def safe_name(name: str) -> str:
    """Given a file name, return it in plain ASCII (Meta asks for ASCII URLs): accents
    dropped, every other run of characters outside [A-Za-z0-9._-] replaced by "-", the
    stem at most 100 characters; "media" for a stem with nothing left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    stem, dot, suffix = ascii_name.rpartition(".")
    if not dot:
        stem, suffix = suffix, ""
    stem = _UNSAFE.sub("-", stem).strip("-.")[:100] or "media"
    suffix = _UNSAFE.sub("", suffix)[:10]
    return f"{stem}.{suffix}" if suffix else stem


def object_key(prefix: str, owner: str, digest: str, name: str) -> str:
    """The key of a file: `{prefix}{owner}/{digest}/{safe name}`. Raise ValueError if the
    owner (a job id) or the digest (sha256 hex) has another shape."""
    if not _OWNER.match(owner):
        raise ValueError(f"{owner!r} cannot name a job's folder in the bucket")
    if not _DIGEST.match(digest):
        raise ValueError(f"{digest!r} is not a sha256 hex digest")
    return f"{prefix}{owner}/{digest}/{safe_name(name)}"


def owner_of(prefix: str, key: str) -> str | None:
    """Given a key in the bucket, return the job id it was stored for, or None if it is not
    one of ours (outside the prefix, or not `{owner}/{digest}/{name}` under it)."""
    if not key.startswith(prefix):
        return None
    parts = key[len(prefix) :].split("/")
    if len(parts) != 3 or not _OWNER.match(parts[0]) or not _DIGEST.match(parts[1]):
        return None
    return parts[0] if parts[2] else None
