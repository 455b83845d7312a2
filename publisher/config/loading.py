"""Reading config.yaml into a `Config` (SPEC §3), and its errors into sentences.

`load(path)` returns a frozen `Config`, or raises `ConfigError` listing every problem at
once, each as `config.yaml: at 'schedule.slots[1].times[0]': <what is wrong and what is
allowed>`. Nothing outside `config` sees a pydantic exception.

Precedence, lowest first: the YAML file, `PUBLISHER_*` environment variables (`__` nests:
`PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN`), then for a token still missing the other
sources `tokens` reads.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from publisher import yamlsafe
from publisher.config import tokens
from publisher.config.schema import ENV_PREFIX, Config
from publisher.errors import ConfigError, Problem


def default_path() -> Path:
    """`$PUBLISHER_CONFIG`, or ./config.yaml."""
    return Path(os.environ.get("PUBLISHER_CONFIG") or "config.yaml")


def load(
    path: Path, environ: Mapping[str, str] | None = None, *, content_must_exist: bool = True
) -> Config:
    """Read config.yaml at `path`; see the module docstring. Raise ConfigError."""
    shown = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(
            [Problem(shown, "", "no such file; create one with `publisher init`, or pass -c PATH")]
        ) from exc
    except OSError as exc:
        raise ConfigError([Problem(shown, "", f"cannot be read: {exc.strerror}")]) from exc
    try:
        data = yamlsafe.loads(raw)
    except yamlsafe.YamlRejected as exc:
        where = f"line {exc.line}" if exc.line else ""
        raise ConfigError([Problem(shown, where, str(exc))]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(shown, "", "must be a mapping of keys (content_dir: ...)")])
    if "config_path" in data:
        raise ConfigError([Problem(shown, "at 'config_path'", "unknown key")])
    environ = os.environ if environ is None else environ
    try:
        config = _build(data, path, environ)
    except ValidationError as exc:
        problems = problems_from(exc, shown, Config, prefix="at ")
        raise ConfigError([_name_variable(p, environ, data) for p in problems]) from None
    except SettingsError as exc:
        raise ConfigError([_unparsable_variable(exc, shown, environ)]) from None
    return _resolve(config, path, environ, content_must_exist)


_SETTINGS_FIELD = re.compile(r'for field "([^"]+)"')


def _unparsable_variable(exc: SettingsError, shown: str, environ: Mapping[str, str]) -> Problem:
    """pydantic-settings could not parse a PUBLISHER_* variable holding a whole section as
    JSON: say which variable and how to write it. Names only, never values (tokens)."""
    match = _SETTINGS_FIELD.search(str(exc))
    field = match.group(1) if match else ""
    exact = ENV_PREFIX + field.upper()
    names = sorted(
        key
        for key in environ
        if field and (key.upper() == exact or key.upper().startswith(exact + "__"))
    )
    which = ", ".join(names) or f"a {ENV_PREFIX}* variable"
    return Problem(
        shown,
        f"at '{field}'" if field else "",
        f"the environment variable {which} is not valid JSON; write it as a JSON object or "
        'list (keys in double quotes, like {"slots": []}), or set one value per variable '
        "(like PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN)",
    )


def _name_variable(
    problem: Problem, environ: Mapping[str, str], data: Mapping[str, Any]
) -> Problem:
    """Say which PUBLISHER_* variable set (or created) the value at fault: the user would
    otherwise look for it in the file. Names only, never values (they may be tokens). A
    variable beside the key (same parent) is named only when the file does not hold the key:
    then the variable is what made its parent, and the key is missing from it."""
    where = problem.field.removeprefix("at ").strip("'")
    if not where or "[" in where:
        return problem
    parts = where.upper().split(".")
    exact = ENV_PREFIX + "__".join(parts)
    parent = ENV_PREFIX + "__".join(parts[:-1]) + "__"
    in_file = _holds(data, where.split("."))
    names = sorted(
        key
        for key in environ
        if key.upper() == exact
        or (len(parts) > 1 and not in_file and key.upper().startswith(parent))
    )
    if not names:
        return problem
    note = f" (set by the environment: {', '.join(names)})"
    return Problem(problem.path, problem.field, problem.message + note, problem.severity)


def _holds(data: Mapping[str, Any], keys: list[str]) -> bool:
    """True if the YAML document has a value at this path of keys."""
    node: Any = data
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
    return True


def _build(data: dict[str, Any], path: Path, environ: Mapping[str, str]) -> Config:
    saved = {k: v for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)}
    if environ is os.environ:
        return Config(**data, config_path=path)
    # A caller-provided environment (tests): swap PUBLISHER_* variables in for the build.
    try:
        for key in saved:
            del os.environ[key]
        for key, value in environ.items():
            if key.upper().startswith(ENV_PREFIX):
                os.environ[key] = value
        return Config(**data, config_path=path)
    finally:
        for key in [k for k in os.environ if k.upper().startswith(ENV_PREFIX)]:
            del os.environ[key]
        os.environ.update(saved)


def _resolve(
    config: Config, path: Path, environ: Mapping[str, str], content_must_exist: bool = True
) -> Config:
    """Make paths absolute and find the tokens; raise ConfigError on unreadable files."""
    accounts, problems = tokens.read(config, path, environ)
    if problems:
        raise ConfigError(problems)
    base = path.resolve().parent
    content_dir = (
        config.content_dir if config.content_dir.is_absolute() else base / config.content_dir
    )
    state_dir = config.state_dir if config.state_dir.is_absolute() else base / config.state_dir
    plan_file = config.plan_file
    if plan_file is not None and not plan_file.is_absolute():
        plan_file = base / plan_file
    content_dir = content_dir.resolve()
    problem = _content_dir_problem(content_dir) if content_must_exist else None
    if problem is not None:
        raise ConfigError([Problem(str(path), "at 'content_dir'", problem)])
    return config.model_copy(
        update={
            "content_dir": content_dir,
            "state_dir": state_dir.resolve(),
            "plan_file": plan_file,
            "accounts": accounts,
            "config_path": path.resolve(),
        }
    )


def _content_dir_problem(content_dir: Path) -> str | None:
    """Given content_dir (absolute), return why publisher cannot use it, None if it is a
    folder. A mistyped content_dir would otherwise look like a site with no drafts at all."""
    try:
        info = content_dir.stat()
    except FileNotFoundError:
        return (
            f"the folder {content_dir} does not exist; fix the path in config.yaml (a "
            f"relative path is read from config.yaml's folder) or create it: mkdir -p "
            f"{content_dir}"
        )
    except PermissionError:
        return (
            f"{content_dir} cannot be reached (permission denied); give this user access "
            "to it and the folders above it (for a service: add it to the folder's group)"
        )
    except OSError as exc:
        return f"{content_dir} cannot be read: {exc.strerror or exc}; fix the path in config.yaml"
    if not stat.S_ISDIR(info.st_mode):
        return f"{content_dir} is not a folder; set content_dir to the folder of your drafts"
    return None


# --- pydantic's errors, in words ---------------------------------------------------------


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
