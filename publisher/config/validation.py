"""Turn pydantic's ValidationError into Problems a user can act on.

Nothing above `config` and `drafts` sees pydantic exceptions: they call `problems_from`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, get_origin

from pydantic import BaseModel, ValidationError

from publisher.errors import Problem


def location(loc: Sequence[int | str]) -> str:
    """('schedule', 'slots', 1, 'times', 0) -> 'schedule.slots[1].times[0]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _allowed_keys(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """Walk `model` along `loc` (minus the last part) and return the keys allowed there."""
    current: Any = model
    name_next = False  # after a dict[str, Model] field, the next part is a key, not a field
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if name_next:
            name_next = False
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                return []
            current = _model_in(field.annotation)
            name_next = _is_dict(field.annotation)
        else:
            continue
    if isinstance(current, type) and issubclass(current, BaseModel):
        # Internal fields (exclude=True, like Config.config_path) are not the user's to write.
        return [name for name, field in current.model_fields.items() if not field.exclude]
    return []


def _is_dict(annotation: Any) -> bool:
    """True for dict[...] (or an Optional/Union holding one)."""
    if get_origin(annotation) is dict:
        return True
    return any(_is_dict(arg) for arg in getattr(annotation, "__args__", ()) or ())


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside Optional[...], list[...], dict[str, ...] if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def problems_from(
    exc: ValidationError, path: str, model: type[BaseModel], *, prefix: str = ""
) -> list[Problem]:
    """Given pydantic's error for `model` read from file `path`, return one Problem per error.

    `prefix` formats the field ("at '...'" for config.yaml; plain for drafts).
    """
    problems = []
    for error in exc.errors(include_url=False):
        loc = [p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        where = location(loc)
        kind = error["type"]
        message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if kind == "extra_forbidden":
            allowed = _allowed_keys(model, loc)
            message = "unknown key"
            if allowed:
                message += f"; allowed here: {', '.join(allowed)}"
        elif kind == "missing":
            message = "required, but missing"
        elif kind in {"string_type", "int_type", "bool_type", "float_type", "list_type"}:
            message = f"{message} (got {type(error.get('input')).__name__})"
        field = f"{prefix}'{where}'" if prefix else where
        problems.append(Problem(path, field, message))
    return problems
