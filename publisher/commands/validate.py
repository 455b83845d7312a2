"""`publisher validate [DRAFT...]`: config.yaml and the drafts checked, every problem at once
(SPEC §2)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from publisher import drafts
from publisher.config import Config
from publisher.errors import Problem


def check(config: Config, paths: Sequence[Path], out: TextIO) -> int:
    """Given the config and the drafts to check (none: every draft under content_dir), print
    each problem on `out` as `path: field: message` and a summary on stderr; return the
    number of errors found (warnings are not counted)."""
    # Not resolved: a draft that is a symlink must be seen as one (drafts.load refuses it).
    paths = list(paths) or drafts.discover(config.content_dir)
    errors = warnings = invalid = 0
    for path in paths:
        loaded = drafts.load(path, config)
        for problem in loaded.problems:
            print(problem_line(problem), file=out)
        errors += len(loaded.errors)
        warnings += len(loaded.warnings)
        invalid += 1 if loaded.errors else 0
    summary = f"{len(paths)} draft(s) checked: {invalid} invalid, {errors} error(s), "
    summary += f"{warnings} warning(s)"
    print(summary, file=sys.stderr)
    return errors


def problem_line(problem: Problem) -> str:
    """`path: field: message`, always three parts: a problem with the whole file (no such
    file, not a mapping) has the field `-`, so scripts can split every line the same way."""
    if problem.field:
        return str(problem)
    return str(Problem(problem.path, "-", problem.message, problem.severity))
