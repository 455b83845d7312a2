"""The options a draft, or one item of its `media:`, gives a picture: `alt_text` and
`user_tags` (with the usernames and positions in them), each read from what the user wrote
into a value or a problem in the `Report`, naming where it was written (`user_tags[1].x`,
`media[2].alt_text`). Also `text`, the one rule for "this value must be text".
"""

from __future__ import annotations

import re

from publisher.drafts import limits
from publisher.drafts.model import UserTag
from publisher.drafts.report import Report

_USERNAME = re.compile(r"[A-Za-z0-9_.]{1,30}")


def kind_name(value: object) -> str:
    """How a YAML value's kind reads in a message."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def text(report: Report, key: str, value: object, where: str | None = None) -> str | None:
    """`value` as text, or None (with an error at `where`, or `key`) when it is not."""
    where = where or key
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        report.error(where, f'is {kind_name(value)}, not text; quote it: {key}: "{shown}"')
    else:
        report.error(where, f"must be text, not {kind_name(value)}")
    return None


def alt_text(report: Report, value: object, where: str = "alt_text") -> str | None:
    """An alt text: text of at most `limits.ALT_TEXT_MAX` characters."""
    if value is None:
        return None
    written = text(report, "alt_text", value, where)
    if written is not None and len(written) > limits.ALT_TEXT_MAX:
        report.error(where, f"is {len(written)} characters; Instagram allows {limits.ALT_TEXT_MAX}")
    return written


def user_tags(
    report: Report, value: object, *, need_position: bool, where: str = "user_tags"
) -> tuple[UserTag, ...]:
    """A list of `{username, x, y}` mappings (x and y required when `need_position`: images
    in the feed)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        report.error(where, "must be a list, e.g. user_tags: [{username: jane, x: 0.5, y: 0.8}]")
        return ()
    if len(value) > limits.USER_TAGS_MAX:
        report.error(where, f"has {len(value)}; Instagram allows up to {limits.USER_TAGS_MAX} tags")
    tags: list[UserTag] = []
    for index, entry in enumerate(value[: limits.USER_TAGS_MAX]):
        at = f"{where}[{index}]"
        if not isinstance(entry, dict):
            report.error(at, "must be a mapping like {username: jane, x: 0.5, y: 0.8}")
            continue
        for key in entry:
            if key not in ("username", "x", "y"):
                report.error(f"{at}.{key}", "unknown key; allowed: username, x, y")
        name = username(report, entry.get("username"), f"{at}.username", "user_tags")
        position = [_fraction(report, entry.get(axis), f"{at}.{axis}") for axis in "xy"]
        for axis, number in zip("xy", position, strict=True):
            if number is None and entry.get(axis) is None and need_position:
                report.error(f"{at}.{axis}", "required on images: a number from 0 to 1")
        if name is not None:
            tags.append(UserTag(name, position[0], position[1]))
    return tuple(tags)


def username(report: Report, value: object, where: str, key: str) -> str | None:
    """An Instagram username, without its "@"."""
    if value is None:
        report.error(where, "required: the Instagram username")
        return None
    name = text(report, key, value, where)
    if name is None:
        return None
    name = name.strip()
    if name.startswith("@"):
        report.error(where, f"write {name[1:]!r} without the @")
        return None
    if not name or not _USERNAME.fullmatch(name):
        report.error(where, f"{name!r} is not an Instagram username")
        return None
    return name


def _fraction(report: Report, value: object, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        report.error(where, f"{value!r} is not a number; write a number from 0 to 1")
        return None
    if not 0 <= value <= 1:
        report.error(where, f"{value} is outside 0 to 1 (0 = left/top, 1 = right/bottom)")
        return None
    return float(value)
