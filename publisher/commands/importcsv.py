"""`publisher import FILE.csv [--dry-run] [--into DIR]`: one draft per row of a spreadsheet.

Columns (header names, any case): type, account, caption, media (files or URLs separated by
`|`), publish_at, first_comment, alt_text; other names that schedulers' exports use are
mapped to these (`COLUMN_NAMES`), and columns that map to nothing are ignored with a note.
Each row becomes the draft text it will be written as, read back, and checked by the very
checks `publisher validate` runs (`drafts.checks`), so the messages are the same, prefixed
with the row (the spreadsheet's row number: the header is row 1) and the column.

All or nothing: when any row has an error nothing is written (exit 1); otherwise every
draft is created at once (`atomicfile.create_all`: each file whole, none replacing a file
that exists). A row that repeats another row, or a draft already under content_dir, is an
error: a duplicate would be a duplicate post.
"""

from __future__ import annotations

import csv
import io
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from publisher import drafts, yamlsafe
from publisher.clock import Clock, system_clock
from publisher.commands import schema
from publisher.config import Config
from publisher.drafts import media
from publisher.drafts.checks import Checker
from publisher.drafts.report import Report
from publisher.errors import ConfigError, Problem
from publisher.store import atomicfile

COLUMNS = ("type", "account", "caption", "media", "publish_at", "first_comment", "alt_text")
MEDIA_SEPARATOR = "|"
# Header names other tools use (compared lowercased, with spaces, _ and - alike).
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "type": ("type", "post type", "publish type", "ig publish type", "placement"),
    "account": ("account", "profile", "channel"),
    "caption": ("caption", "text", "content", "post", "message", "post text", "body"),
    "media": (
        "media",
        "media url",
        "media urls",
        "image url",
        "image urls",
        "images",
        "image",
        "photo url",
        "photo urls",
        "video url",
        "video urls",
        "media link",
        "attachments",
    ),
    "publish_at": (
        "publish at",
        "scheduled at",
        "scheduled time",
        "schedule date",
        "scheduled date",
        "posting time",
        "post time",
        "publish date",
        "published at",
        "date time",
    ),
    "first_comment": ("first comment", "comment"),
    "alt_text": ("alt text", "alt", "image alt text", "media description"),
}
DATE_ONLY, TIME_ONLY = ("date", "day"), ("time", "hour")  # a date and a time in two columns
TYPE_WORDS = {"feed": "post", "image": "post", "photo": "post", "video": "reel"}
SLUG_MAX = 40


@dataclass
class Outcome:
    """What `run` did: `ok` (exit 0) and the lines to print."""

    ok: bool
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Planned:
    row: int
    path: Path
    data: bytes


def _key(name: str) -> str:
    return " ".join(re.split(r"[\s_\-]+", name.strip().lower())).strip()


_ALIASES = {_key(alias): column for column, names in COLUMN_NAMES.items() for alias in names}


def _usage(where: str, message: str) -> ConfigError:
    return ConfigError([Problem("publisher import", where, message)])


def _read(path: Path) -> str:
    shown = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([Problem(shown, "", "no such file")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(shown, "", "is a folder; name a .csv file")]) from None
    except OSError as exc:
        raise ConfigError([Problem(shown, "", f"cannot be read: {exc.strerror}")]) from None
    try:
        return raw.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [
                Problem(
                    shown,
                    f"line {line}",
                    "is not UTF-8 text; save the sheet as CSV UTF-8 "
                    "(Excel: File > Save As > CSV UTF-8)",
                )
            ]
        ) from None


def _rows(text: str) -> Iterator[list[str]]:
    header = text.split("\n", 1)[0]
    delimiter = ";" if header.count(";") > header.count(",") else ","  # Excel in some locales
    yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)


def _slug(caption: str, fallback: str) -> str:
    first = caption.strip().split("\n", 1)[0]
    ascii_text = unicodedata.normalize("NFKD", first).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:SLUG_MAX].rstrip("-")
    return slug or fallback


class _Dumper(yaml.SafeDumper):
    """Writes multi-line text as a `|` block, as people write captions."""


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _text)


@dataclass
class _SharedMediaChecker(Checker):
    """The Checker of `validate`, remembering what it found in each media file: the rows of
    a sheet often share a photo, and opening it (or probing a video) once is enough."""

    found: dict[tuple[object, ...], list[tuple[str, str]]] = field(default_factory=dict)

    def _check_file(self, where: str, item: media.MediaItem, role: media.Role) -> None:
        key = (item.source, item.path, item.url, role, self.fit)
        known = self.found.get(key)
        if known is None:
            before = len(self.report.items)
            super()._check_file(where, item, role)
            known = [(p.message, p.severity) for p in self.report.items[before:]]
            self.found[key] = known
            return
        for message, severity in known:
            if severity == "warning":
                self.report.warn(where, message)
            else:
                self.report.error(where, message)


def _read_back(body: bytes) -> Any:
    """The draft text as the daemon will read it. The text is ours (safe_dump), so the C
    loader, when PyYAML has it, reads it as `yamlsafe` would, ten times faster."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        return yamlsafe.loads(body)
    return yaml.load(body, Loader=loader)  # noqa: S506 - CSafeLoader is the safe loader


@dataclass
class _Importer:
    config: Config
    source: Path
    folder: Path
    now: datetime
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    media_found: dict[tuple[object, ...], list[tuple[str, str]]] = field(default_factory=dict)

    def error(self, row: int, column: str, message: str) -> None:
        where = f"row {row}, column {column}" if column else f"row {row}"
        self.problems.append(Problem(str(self.source), where, message))

    def header(self, cells: list[str]) -> dict[str, int]:
        """Map each of COLUMNS (and date/time) to its cell index; report what is missing."""
        found: dict[str, int] = {}
        dates: dict[str, int] = {}
        ignored = []
        for index, name in enumerate(cells):
            key = _key(name)
            column = _ALIASES.get(key)
            if column is None and key in DATE_ONLY + TIME_ONLY:
                dates["date" if key in DATE_ONLY else "time"] = index
                continue
            if column is None:
                if key:
                    ignored.append(name.strip())
                continue
            if column in found:
                self.error(1, name.strip(), f"a second {column} column; keep one")
                continue
            found[column] = index
        if "publish_at" not in found and "date" in dates:
            found["_date"] = dates["date"]
            if "time" in dates:
                found["_time"] = dates["time"]
        if "media" not in found:
            self.error(
                1,
                "",
                "no media column; the header needs at least media (files or URLs separated "
                f"by |), and may have {', '.join(c for c in COLUMNS if c != 'media')}",
            )
        if ignored:
            self.notes.append(f"ignored columns (not draft keys): {', '.join(ignored)}")
        return found

    def document(self, row: int, cells: list[str], columns: dict[str, int]) -> dict[str, Any]:
        def cell(column: str) -> str:
            index = columns.get(column)
            value = cells[index] if index is not None and index < len(cells) else ""
            return value.replace("\r\n", "\n").replace("\r", "\n").strip()

        document: dict[str, Any] = {}
        items = [part.strip() for part in cell("media").split(MEDIA_SEPARATOR)]
        items = [item for item in items if item]
        kind = cell("type").lower()
        kind = TYPE_WORDS.get(kind, kind)
        if not kind:  # inferred, as the README says
            videos = [i for i in items if media.kind_of(i) == "video"]
            kind = "carousel" if len(items) > 1 else "reel" if videos else "post"
        document["type"] = kind
        for column in ("account", "caption"):
            if cell(column):
                document[column] = cell(column)
        document["media"] = items
        when = cell("publish_at") or " ".join(
            part for part in (cell("_date"), cell("_time")) if part
        )
        if when:
            document["publish_at"] = when
        for column in ("first_comment", "alt_text"):
            if cell(column):
                document[column] = cell(column)
        return document

    def column_of(self, where: str, columns: dict[str, int], header: list[str]) -> str:
        key = re.split(r"[\[.]", where, maxsplit=1)[0]
        if key == "publish_at" and "publish_at" not in columns and "_date" in columns:
            return header[columns["_date"]].strip()
        if key in columns:
            return header[columns[key]].strip()
        return key

    def check(
        self, row: int, document: dict[str, Any], columns: dict[str, int], header: list[str]
    ) -> tuple[bytes, dict[str, Any]] | None:
        """The draft's bytes and its checked fields, or None (the row's problems reported)."""
        body = yaml.dump(
            document,
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            width=100,
            default_flow_style=None,
        ).encode("utf-8")
        report = Report(str(self.source))
        content_dir = self.config.content_dir.resolve()
        checker = _SharedMediaChecker(
            _read_back(body),
            self.config,
            content_dir,
            self.folder,
            report,
            check_media=True,
            found=self.media_found,
        )
        fields = checker.run()
        for problem in report.items:
            column = self.column_of(problem.field, columns, header)
            where = f"row {row}, column {column}" if column else f"row {row}"
            self.problems.append(Problem(problem.path, where, problem.message, problem.severity))
        if report.failed or fields is None:
            return None
        when = fields.get("publish_at")
        if when is not None and when <= self.now:
            self.error(
                row,
                self.column_of("publish_at", columns, header),
                f"{document['publish_at']} is in the past; publisher would publish it late or "
                "mark it missed: give a future time, now, or leave it empty for the queue",
            )
            return None
        return body, fields


def _identity(fields: dict[str, Any]) -> tuple[object, ...]:
    """What makes two drafts the same post: type, account, caption, media, time."""
    sources = tuple(str(item.path or item.url) for item in fields["media"])
    return (
        fields["type"],
        fields["account"],
        drafts.caption_hash(fields["caption"] or ""),
        sources,
        fields["publish_at"],
        fields["publish_now"],
    )


def _existing(config: Config) -> dict[tuple[object, ...], str]:
    found = {}
    for path in drafts.discover(config.content_dir):
        loaded = drafts.load(path, config, check_media=False)
        if loaded.draft is not None:
            draft = loaded.draft
            fields = {
                "type": draft.type,
                "account": draft.account,
                "caption": draft.caption,
                "media": draft.media,
                "publish_at": draft.publish_at,
                "publish_now": draft.publish_now,
            }
            found[_identity(fields)] = loaded.rel
    return found


def _folder(config: Config, into: Path | None) -> Path:
    content_dir = config.content_dir.resolve()
    if into is None:
        return content_dir
    folder = Path(os.path.normpath(into if into.is_absolute() else Path.cwd() / into))
    if not folder.is_relative_to(content_dir):
        beside = Path(os.path.normpath(content_dir / into))
        if into.is_absolute() or not beside.is_relative_to(content_dir):
            raise _usage(
                "--into", f"{into} is outside content_dir ({content_dir}); name a folder in it"
            )
        folder = beside
    if folder.exists() and not folder.resolve().is_relative_to(content_dir):
        raise _usage("--into", f"{into} leads outside content_dir through a link")
    if folder != content_dir and not drafts.is_draft_path(folder / "x.yaml", content_dir):
        raise _usage("--into", f"{into}: a folder starting with . or _ is ignored by the daemon")
    return folder


def _name(fields: dict[str, Any], row: int, config: Config, taken: set[Path], folder: Path) -> Path:
    slug = _slug(fields["caption"] or "", fields["type"])
    when = fields["publish_at"]
    if when is not None:
        stem = f"{when.astimezone(config.tz):%Y-%m-%d-%H%M}-{slug}"
    elif fields["publish_now"]:
        stem = f"now-{slug}"
    else:
        # The queue takes drafts in file-name order: the row number keeps the sheet's order.
        stem = f"queue-{row:05d}-{slug}"
    path, number = folder / f"{stem}.yaml", 1
    while path in taken or path.exists() or path.is_symlink():
        number += 1
        path = folder / f"{stem}-{number}.yaml"
    taken.add(path)
    return path


def _modeline(config: Config, folder: Path) -> bytes:
    target = config.config_path.parent / schema.FILES["draft"]
    if not target.is_file():
        return b""
    return schema.modeline(Path(os.path.relpath(target, folder)).as_posix()).encode()


def run(
    config: Config,
    source: Path,
    *,
    into: Path | None = None,
    dry_run: bool = False,
    clock: Clock = system_clock,
) -> Outcome:
    """Given the config and a CSV file, check every row and (unless `dry_run`) write one
    draft per row into `into` (a folder under content_dir; content_dir itself by default).
    Nothing is written when any row has an error. Raise ConfigError (exit 2) when the file
    cannot be read or `into` is outside content_dir."""
    folder = _folder(config, into)
    text = _read(source)
    importer = _Importer(config, source, folder, clock())
    try:
        records = list(_rows(text))
    except csv.Error as exc:
        raise ConfigError(
            [Problem(str(source), "", f"is not a CSV file the way it is quoted: {exc}")]
        ) from None
    if not records or not any(cell.strip() for cell in records[0]):
        return Outcome(False, [f"{source}: the file is empty; the first row names the columns"])
    header = records[0]
    columns = importer.header(header)
    existing = _existing(config)
    seen: dict[tuple[object, ...], int] = {}
    planned: list[_Planned] = []
    taken: set[Path] = set()
    modeline = _modeline(config, folder)
    stamp = f"# imported from {source.name}".encode()
    for number, cells in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            importer.error(
                number,
                "",
                f"has {len(cells)} cells, the header {len(header)}: quote the cell "
                'that holds a comma ("a, b")',
            )
            continue
        if "media" not in columns:
            continue
        checked = importer.check(number, importer.document(number, cells, columns), columns, header)
        if checked is None:
            continue
        body, fields = checked
        identity = _identity(fields)
        if identity in seen:
            importer.error(
                number,
                "",
                f"is the same post as row {seen[identity]} (same type, account, "
                "caption, media and time); remove one",
            )
            continue
        if identity in existing:
            importer.error(
                number,
                "",
                f"is already a draft: {existing[identity]} (same type, account, "
                "caption, media and time); remove the row",
            )
            continue
        seen[identity] = number
        path = _name(fields, number, config, taken, folder)
        planned.append(
            _Planned(number, path, modeline + stamp + f", row {number}\n".encode() + body)
        )
    lines = [str(problem) for problem in importer.problems]
    lines += [f"{source}: note: {note}" for note in importer.notes]
    errors = [p for p in importer.problems if p.severity == "error"]
    if errors:
        rows = len({p.field.split(",")[0] for p in errors})
        lines.append(
            f"{source}: nothing written: {len(errors)} problem(s) in {rows} row(s); fix them "
            "and run again (every row is checked before any draft is written)"
        )
        return Outcome(False, lines)
    shown = [_shown(item.path) for item in planned]
    if dry_run:
        lines += [f"would write {name}" for name in shown]
        lines.append(f"{source}: {len(planned)} draft(s) would be written (dry run)")
        return Outcome(True, lines)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        lines.append(
            f"{source}: nothing written: {folder}: is not a folder; name a folder under content_dir"
        )
        return Outcome(False, lines)
    except OSError as exc:
        lines.append(f"{source}: nothing written: cannot make {folder}: {exc.strerror}")
        return Outcome(False, lines)
    try:
        atomicfile.create_all([(item.path, item.data) for item in planned])
    except FileExistsError as exc:
        lines.append(
            f"{source}: nothing written: {exc.filename} appeared while importing; run again"
        )
        return Outcome(False, lines)
    except OSError as exc:
        where = exc.filename or folder
        fix = "; check that you may write there" if isinstance(exc, PermissionError) else ""
        lines.append(f"{source}: nothing written: {where}: {exc.strerror}{fix}")
        return Outcome(False, lines)
    lines += [f"wrote {name}" for name in shown]
    lines.append(f"{source}: {len(planned)} draft(s) written")
    return Outcome(True, lines)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
