"""The signed links of `media.host: serve`: the key, the signature, and the link's shape.

    {public_url}/m/{expires}/{binding}/{signature}/{path relative to content_dir, %-encoded}
    {public_url}/c/{expires}/{binding}/{signature}/{name of a converted copy in state_dir/cache}

`binding` is the identity of the file the link was made for (`identity.Binding.text`);
signature = HMAC-SHA256(key, "{expires}:{binding}:{signed path}"), base64url without padding,
where the signed path is the relative path for `/m/` and "/cache/{name}" for `/c/` (a leading
"/" no content_dir path has, so a signature given for a converted copy never opens a file of
the same name in content_dir). The key is 32 random bytes made once in `state_dir/media.key`
(mode 0600) and reused after restarts, so links given out before a restart keep working.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

from publisher.errors import StoreCorrupt, StoreError

KEY_FILE = "media.key"
KEY_BYTES = 32
CACHE = "cache"  # state_dir/cache: the converted copies of images (hosting.convert, SPEC §7)

Kind = Literal["m", "c"]  # a file of content_dir, a converted copy in state_dir/cache
_EXPIRES = re.compile(r"^[0-9]{1,12}$")


@dataclass(frozen=True)
class Link:
    """A request's path read as a link: not yet checked (see `verified`)."""

    kind: Kind
    expires: int
    binding: str
    signature: str
    relpath: str  # decoded: relative to content_dir (`m`), a name in the cache (`c`)

    def signed_path(self) -> str:
        return signed_path(self.kind, self.relpath)

    def verified(self, key: bytes, now: float) -> bool:
        """True when the signature is the key's for this link and it has not expired."""
        expected = sign(key, self.expires, self.binding, self.signed_path())
        if not hmac.compare_digest(expected.encode(), self.signature.encode()):
            return False
        return now <= self.expires

    def parts(self) -> tuple[str, ...] | None:
        """The relative path's names, or None if it is not a plain relative path (absolute,
        empty names, "..", NUL) or, for a cache link, more than a name."""
        pure = PurePosixPath(self.relpath)
        if "\x00" in self.relpath or pure.is_absolute() or not pure.parts:
            return None
        if any(part in ("", "..", ".") for part in self.relpath.split("/")):
            return None
        if self.kind == "c" and len(pure.parts) != 1:
            return None
        return pure.parts


def parse(request_path: str) -> Link | None:
    """Given a request's path (a query is ignored), return the link it is, or None if it
    does not have a link's shape."""
    parts = urlsplit(request_path).path.split("/", 5)
    if len(parts) != 6 or parts[0] != "" or parts[1] not in ("m", "c"):
        return None
    kind: Kind = "m" if parts[1] == "m" else "c"
    expires_text, binding, signature, quoted = parts[2:]
    if not _EXPIRES.match(expires_text):
        return None
    try:
        relpath = unquote(quoted, errors="strict")
    except UnicodeDecodeError:
        return None
    return Link(kind, int(expires_text), binding, signature, relpath)


def path_of(key: bytes, kind: Kind, expires: int, binding: str, relpath: str) -> str:
    """The signed link's path (to put after public_url)."""
    signature = sign(key, expires, binding, signed_path(kind, relpath))
    return f"/{kind}/{expires}/{binding}/{signature}/{quote(relpath, safe='/')}"


def signed_path(kind: Kind, relpath: str) -> str:
    return f"/{CACHE}/{relpath}" if kind == "c" else relpath


def sign(key: bytes, expires: int, binding: str, signed: str) -> str:
    """HMAC-SHA256 of "{expires}:{binding}:{signed}" under `key`, base64url without
    padding."""
    message = f"{expires}:{binding}:{signed}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def relative_path(content_dir: Path, path: Path) -> str:
    """Given the (resolved) content folder and a file (absolute, or relative to the folder),
    return its path relative to the folder, with `/`, symlinks resolved.

    Raise ValueError if the file is not inside the folder (after resolving symlinks).
    """
    candidate = path if path.is_absolute() else content_dir / path
    real = Path(os.path.realpath(candidate))
    try:
        relative = real.relative_to(content_dir)
    except ValueError:
        raise ValueError(f"{path} is not inside the content folder {content_dir}") from None
    if not relative.parts:
        raise ValueError(f"{path} is the content folder itself, not a media file")
    return relative.as_posix()


# --- the key ------------------------------------------------------------------------------


def load_key(state_dir: Path) -> bytes:
    """Return the link-signing key in `state_dir/media.key`, creating it (32 random bytes,
    mode 0600, created atomically: a crash or a second process never leaves a partial or a
    different key) the first time.

    Raise StoreCorrupt if the file is there but is not a key; StoreError if it cannot be
    read or made.
    """
    path = state_dir / KEY_FILE
    try:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = _create_key(path)
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot read or create the media link key: {exc.strerror}"
        ) from exc
    if len(data) != KEY_BYTES:
        raise StoreCorrupt(
            f"{path} is not a media link key ({len(data)} bytes, not {KEY_BYTES}); delete it "
            "and publisher makes a new one (links already given out then stop working)"
        )
    return data


def _create_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.publisher-tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        # link() never replaces: if another process made the key first, theirs wins and
        # both processes sign with the same key.
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return path.read_bytes()
