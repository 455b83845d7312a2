"""Reading one draft file into a `Loaded`: the `Draft` (when valid), every problem at once,
the fingerprint, and the daemon's own `status:` block as read.

`load` never raises for anything a user can put on disk: hostile YAML (yamlsafe refuses it),
directories, FIFOs, broken symlinks, bad media and bad values all become `Problem`s naming
the file, the field and the fix (SPEC §4). The fields are checked by `checks`.
The fingerprint ignores the `status:` block, so the daemon's own write-back never looks
like a user edit.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

from publisher import confined, yamlsafe
from publisher.config import Config
from publisher.drafts import statusblock
from publisher.drafts.checks import Checker
from publisher.drafts.files import escaped_name, is_draft_path
from publisher.drafts.model import Draft, Loaded
from publisher.drafts.report import Report

_MAY_HAVE_STATUS = re.compile(rb"^[ \t]*[\"']?status[\"']?[ \t]*:", re.MULTILINE)


def user_bytes(data: bytes) -> bytes:
    """Given a draft file's bytes, return them without the daemon's top-level `status:` block
    (`statusblock.split`), so that rewriting the status does not look like a user edit."""
    if not _MAY_HAVE_STATUS.search(data):
        return data  # the common fresh draft: no second parse
    return statusblock.split(data)[0]


def fingerprint(data: bytes) -> str:
    """The sha256 (hex) of what the user wrote: `statusblock.fingerprint`, the same hash the
    write-back uses."""
    if not _MAY_HAVE_STATUS.search(data):
        return hashlib.sha256(data.rstrip(b"\r\n")).hexdigest()
    return statusblock.fingerprint(data)


def load(path: Path, config: Config, *, check_media: bool = True) -> Loaded:
    """Given a draft file and the config, return what it holds (see `Loaded`). Never raises
    for user errors. `check_media=False` skips opening media files (paths, existence and
    safety are still checked)."""
    shown = _shown(path)
    content_dir = config.content_dir.resolve()
    absolute = _absolute(path)
    try:
        rel = absolute.relative_to(content_dir).as_posix()
    except ValueError:
        rel = absolute.as_posix()
    report = Report(shown)
    if escaped_name(absolute) is not None:
        report.error(
            "",
            "the file name is not valid UTF-8 (shown here with \\x escapes); publisher "
            "cannot record it: rename it, e.g. with `mv` and a name typed on this system",
        )
        return Loaded(absolute, rel, None, tuple(report.items), _digest("not-utf-8", shown))
    # Named by a path under content_dir (before any link is resolved): it must not lead out.
    lexical = Path(os.path.abspath(path))
    beneath = lexical.is_relative_to(content_dir) or lexical.is_relative_to(
        os.path.abspath(config.content_dir)
    )
    data, digest = _read(absolute, content_dir, report, beneath=beneath)
    if data is None:
        return Loaded(absolute, rel, None, tuple(report.items), digest)
    if rel == absolute.as_posix():
        report.error("", f"is outside content_dir ({content_dir}); move it there to publish it")
    elif not is_draft_path(absolute, content_dir):
        report.warn("", "the daemon ignores this file: a name in its path starts with . or _")
    try:
        document = yamlsafe.loads(data)
    except yamlsafe.YamlRejected as exc:
        report.error(f"line {exc.line}" if exc.line else "", str(exc))
        return Loaded(absolute, rel, None, tuple(report.items), digest)
    if document is None:
        report.error("", "the file is empty; a draft needs at least type: and media:")
        return Loaded(absolute, rel, None, tuple(report.items), digest)
    if not isinstance(document, dict):
        found = "a list" if isinstance(document, list) else f"the value {document!r}"[:80]
        report.error("", f"must be a mapping of keys (type: post, media: [...]), not {found}")
        return Loaded(absolute, rel, None, tuple(report.items), digest)
    status = document.get("status")
    if status is not None and not isinstance(status, dict):
        report.warn("status", "is written by publisher and will be rewritten; leave it alone")
        status = None
    checker = Checker(document, config, content_dir, absolute.parent, report, check_media)
    draft_fields = checker.run()
    draft = None
    if not report.failed and draft_fields is not None:
        draft = Draft(path=absolute, rel=rel, fingerprint=digest, **draft_fields)
    return Loaded(
        absolute, rel, draft, tuple(report.items), digest, status, checker.locked_platforms
    )


def _shown(path: Path) -> str:
    """The path as the user will recognise it: relative to the working folder when inside
    it; bytes that are not UTF-8 escaped."""
    shown = str(path)
    if path.is_absolute():
        try:
            shown = str(path.relative_to(Path.cwd()))
        except (ValueError, OSError):
            pass
    return escaped_name(shown) or shown


def _absolute(path: Path) -> Path:
    """`path` made absolute with its folder's symlinks resolved, but not the file's own
    (a draft that is a symlink keeps its own name and folder)."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.parent.resolve() / absolute.name
    except (OSError, RuntimeError):
        return absolute


def _read(
    path: Path, content_dir: Path, report: Report, *, beneath: bool
) -> tuple[bytes | None, str]:
    """Read the file once, refusing what is not a small regular file. Return (bytes or None,
    fingerprint); the fingerprint of an unreadable file describes what was found instead.
    A draft named under content_dir (`beneath`) that leads out of it through a link is never
    read."""
    if beneath:
        try:
            confined.inside(content_dir, path)
        except confined.OutsideContentDir as exc:
            report.error(
                "",
                f"is a symlink that {exc.strerror}; publisher reads and writes only files "
                "inside content_dir: copy the file in instead of linking to it",
            )
            return None, _digest("outside", os.path.realpath(path))
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            report.error("", f"is a symlink to {os.readlink(path)}, which does not exist")
            return None, _digest("broken-link", os.readlink(path))
        report.error("", "no such file")
        return None, _digest("missing")
    except OSError as exc:
        report.error("", f"cannot be read: {exc.strerror}")
        return None, _digest("unreadable", exc.strerror)
    if stat.S_ISDIR(info.st_mode):
        report.error("", "is a folder, not a draft file; rename it so it does not end .yaml")
        return None, _digest("folder")
    if not stat.S_ISREG(info.st_mode):
        report.error("", "is not a regular file (a pipe or device?); drafts are text files")
        return None, _digest("special", info.st_mode)
    if info.st_size > yamlsafe.MAX_BYTES:
        report.error(
            "",
            f"the file is {info.st_size} bytes; a draft may be at most {yamlsafe.MAX_BYTES} "
            "bytes (256 KiB): shorten it",
        )
        return None, _digest("too-big", info.st_size, info.st_mtime_ns)
    if os.path.islink(path):
        target = path.resolve()
        if target != path and is_draft_path(target, content_dir):
            report.error(
                "",
                f"is a link to {target.relative_to(content_dir).as_posix()}, a draft itself; "
                "remove the link (two drafts would publish twice)",
            )
    try:
        opened = (
            confined.open_beneath(content_dir, path)
            if beneath
            else confined.open_regular(path)  # `validate` of a file outside: reported as outside
        )
        with opened as handle:
            data = handle.read(yamlsafe.MAX_BYTES + 1)
    except confined.OutsideContentDir as exc:  # a link swapped in since the check above
        report.error("", f"is a symlink that {exc.strerror}; copy the file in instead")
        return None, _digest("outside", os.path.realpath(path))
    except OSError as exc:
        report.error("", f"cannot be read: {exc.strerror}")
        return None, _digest("unreadable", exc.strerror)
    return data, fingerprint(data)


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()
