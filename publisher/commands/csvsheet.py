"""A spreadsheet saved as CSV, read into draft documents for `publisher import`.

`read` gives the file's text (a BOM dropped; not UTF-8: exit 2 naming the line); `records`
its rows (`,` or, as Excel writes in some languages, `;`); `Sheet.of(header)` maps the header
to the draft keys (`COLUMNS`, and the names other tools use: `COLUMN_NAMES`); `Sheet.document`
makes one row a draft mapping, and `dump` the text it is written as.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from publisher.drafts import media
from publisher.errors import ConfigError, Problem

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


def key(name: str) -> str:
    return " ".join(re.split(r"[\s_\-]+", name.strip().lower())).strip()


_ALIASES = {key(alias): column for column, names in COLUMN_NAMES.items() for alias in names}


def read(path: Path) -> str:
    """Given a CSV file, return its text. Raise ConfigError (exit 2) naming the file when it
    cannot be read or is not UTF-8 (naming the line)."""
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


def records(path: Path, text: str) -> list[list[str]]:
    """Given the file and its text, return its rows of cells. Raise ConfigError (exit 2)
    when the quoting is broken."""
    header = text.split("\n", 1)[0]
    delimiter = ";" if header.count(";") > header.count(",") else ","  # Excel in some locales
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise ConfigError(
            [Problem(str(path), "", f"is not a CSV file the way it is quoted: {exc}")]
        ) from None


@dataclass
class Sheet:
    """The header as read: each draft key's cell index (`_date`/`_time` for a date and a
    time in two columns), what is wrong with the header (as (column, message)), notes."""

    header: list[str]
    columns: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, header: list[str]) -> Sheet:
        sheet = cls(header)
        dates: dict[str, int] = {}
        ignored = []
        for index, name in enumerate(header):
            name_key = key(name)
            column = _ALIASES.get(name_key)
            if column is None and name_key in DATE_ONLY + TIME_ONLY:
                dates["date" if name_key in DATE_ONLY else "time"] = index
                continue
            if column is None:
                if name_key:
                    ignored.append(name.strip())
                continue
            if column in sheet.columns:
                sheet.problems.append((name.strip(), f"a second {column} column; keep one"))
                continue
            sheet.columns[column] = index
        if "publish_at" not in sheet.columns and "date" in dates:
            sheet.columns["_date"] = dates["date"]
            if "time" in dates:
                sheet.columns["_time"] = dates["time"]
        if "media" not in sheet.columns:
            others = ", ".join(c for c in COLUMNS if c != "media")
            sheet.problems.append(
                (
                    "",
                    "no media column; the header needs at least media (files or URLs "
                    f"separated by |), and may have {others}",
                )
            )
        if ignored:
            sheet.notes.append(f"ignored columns (not draft keys): {', '.join(ignored)}")
        return sheet

    def document(self, cells: list[str]) -> dict[str, Any]:
        """One row as a draft mapping; `type` inferred from the media when empty."""

        def cell(column: str) -> str:
            index = self.columns.get(column)
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

    def column_of(self, where: str) -> str:
        """The header's name for a draft field as a check names it (`media[2]` -> `Image URL`)."""
        name = re.split(r"[\[.]", where, maxsplit=1)[0]
        if name == "publish_at" and "publish_at" not in self.columns and "_date" in self.columns:
            return self.header[self.columns["_date"]].strip()
        if name in self.columns:
            return self.header[self.columns[name]].strip()
        return name


class _Dumper(yaml.SafeDumper):
    """Writes multi-line text as a `|` block, as people write captions."""


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _text)


def dump(document: dict[str, Any]) -> bytes:
    """The draft text a row is written as."""
    text = yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=None,
    )
    return text.encode("utf-8")
