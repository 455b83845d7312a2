"""`publisher import FILE.csv [--dry-run] [--into DIR]`: one draft per row of a spreadsheet.

Columns (header names, any case): type, account, caption, media (files or URLs separated by
`|`), publish_at, first_comment, alt_text; other names that schedulers' exports use are
mapped to these, and columns that map to nothing are ignored with a note (`csvsheet`).
Each row becomes the draft text it will be written as, read back, and checked by the very
checks `publisher validate` runs (`drafts.checks`), so the messages are the same, prefixed
with the row (the spreadsheet's row number: the header is row 1) and the column.

All or nothing: when any row has an error nothing is written (exit 1); otherwise every
draft is created at once (`atomicfile.create_all`: each file whole, none replacing a file
that exists). A row that repeats another row, or a draft already under content_dir, is an
error: a duplicate would be a duplicate post.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from publisher import drafts, yamlsafe
from publisher.clock import Clock, system_clock
from publisher.commands import csvsheet, schema
from publisher.config import Config
from publisher.drafts.checks import Checker
from publisher.drafts.medialist import Known
from publisher.drafts.report import Report
from publisher.errors import ConfigError, Problem
from publisher.store import atomicfile

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


def _usage(where: str, message: str) -> ConfigError:
    return ConfigError([Problem("publisher import", where, message)])


def _slug(caption: str, fallback: str) -> str:
    first = caption.strip().split("\n", 1)[0]
    ascii_text = unicodedata.normalize("NFKD", first).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:SLUG_MAX].rstrip("-")
    return slug or fallback


def _read_back(body: bytes) -> Any:
    """The draft text as the daemon will read it. The text is ours (safe_dump), so the C
    loader, when PyYAML has it, reads it as `yamlsafe` would, ten times faster."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        return yamlsafe.loads(body)
    return yaml.load(body, Loader=loader)  # noqa: S506 - CSafeLoader is the safe loader


@dataclass
class _Rows:
    """Checks the rows of one sheet, collecting every problem."""

    config: Config
    source: Path
    folder: Path
    now: datetime
    sheet: csvsheet.Sheet
    problems: list[Problem] = field(default_factory=list)
    media_known: Known = field(default_factory=dict)  # the rows share what files were found

    def error(self, row: int, column: str, message: str, severity: str = "error") -> None:
        where = f"row {row}, column {column}" if column else f"row {row}"
        self.problems.append(Problem(str(self.source), where, message, severity))

    def check(self, row: int, cells: list[str]) -> tuple[bytes, dict[str, Any]] | None:
        """The row's draft text and its checked fields, or None (its problems reported)."""
        document = self.sheet.document(cells)
        body = csvsheet.dump(document)
        report = Report(str(self.source))
        checker = Checker(
            _read_back(body),
            self.config,
            self.config.content_dir.resolve(),
            self.folder,
            report,
            check_media=True,
            media_known=self.media_known,
        )
        fields = checker.run()
        for problem in report.items:
            self.error(row, self.sheet.column_of(problem.field), problem.message, problem.severity)
        if report.failed or fields is None:
            return None
        when = fields.get("publish_at")
        if when is not None and when <= self.now:
            self.error(
                row,
                self.sheet.column_of("publish_at"),
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
    records = csvsheet.records(source, csvsheet.read(source))
    if not records or not any(cell.strip() for cell in records[0]):
        return Outcome(False, [f"{source}: the file is empty; the first row names the columns"])
    header = records[0]
    sheet = csvsheet.Sheet.of(header)
    rows = _Rows(config, source, folder, clock(), sheet)
    for column, message in sheet.problems:
        rows.error(1, column, message)
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
            rows.error(
                number,
                "",
                f"has {len(cells)} cells, the header {len(header)}: quote the cell "
                'that holds a comma ("a, b")',
            )
            continue
        if "media" not in sheet.columns:
            continue
        checked = rows.check(number, cells)
        if checked is None:
            continue
        body, fields = checked
        identity = _identity(fields)
        if identity in seen:
            rows.error(
                number,
                "",
                f"is the same post as row {seen[identity]} (same type, account, "
                "caption, media and time); remove one",
            )
            continue
        if identity in existing:
            rows.error(
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
    lines = [str(problem) for problem in rows.problems]
    lines += [f"{source}: note: {note}" for note in sheet.notes]
    errors = [p for p in rows.problems if p.severity == "error"]
    if errors:
        bad_rows = len({p.field.split(",")[0] for p in errors})
        lines.append(
            f"{source}: nothing written: {len(errors)} problem(s) in {bad_rows} row(s); fix them "
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
