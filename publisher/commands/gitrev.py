"""The site as it was at a git revision, for `publisher plan --diff REV`: read-only.

`at_revision(config, rev)` copies content_dir and config.yaml as they were at `rev` into a
temporary folder (`git show` for the config, `git archive` for the drafts and media) and
yields the Config that reads them. The working tree, the index and the refs are never
touched; the temporary folder is removed afterwards. Both sides share the working config's
state_dir (read only), so the comparison shows what the files change, nothing else.
"""

from __future__ import annotations

import contextlib
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from publisher import config as config_module
from publisher.config import Config
from publisher.errors import ConfigError, Problem

WHERE = "publisher plan"
OPTION = "--diff"


def _fail(message: str) -> ConfigError:
    return ConfigError([Problem(WHERE, OPTION, message)])


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, check=False, timeout=300
        )
    except FileNotFoundError:
        raise _fail("git is not installed (or not on PATH); install it to compare") from None
    except subprocess.TimeoutExpired:
        raise _fail(f"git {args[0]} took more than 5 minutes; try again") from None


def toplevel(folder: Path) -> Path:
    """Given a folder, return the top of the git work tree holding it. Raise ConfigError
    (exit 2) with a sentence when it is in none."""
    done = _git(folder, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        if said and "not a git repository" not in said[0]:
            # Another refusal, such as "detected dubious ownership": git's own words say it.
            raise _fail(f"git cannot read the repository of {folder}: {said[0]}")
        raise _fail(
            f"{folder} is not in a git repository; --diff compares with a git revision "
            "(use --against FILE to compare with a saved `publisher plan --json`)"
        )
    return Path(done.stdout.decode().strip()).resolve()


def commit(top: Path, rev: str) -> str:
    """Given the repository and a revision as typed, return its commit id. Raise
    ConfigError (exit 2) when it names no commit."""
    if not rev or rev.startswith("-"):
        raise _fail(f"{rev!r} is not a revision; name a branch, tag or commit, like origin/main")
    done = _git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if done.returncode != 0:
        raise _fail(
            f"{rev!r} is not a revision of the git repository at {top}; check the name "
            "(git branch -a), or fetch it first (git fetch origin main)"
        )
    return done.stdout.decode().strip()


def _exists(top: Path, sha: str, rel: str) -> bool:
    return _git(top, "cat-file", "-e", f"{sha}:{rel}").returncode == 0


def _inside(path: Path, top: Path, what: str) -> str:
    try:
        return path.resolve().relative_to(top).as_posix()
    except ValueError:
        raise _fail(f"{what} ({path}) is outside the git repository at {top}") from None


@contextlib.contextmanager
def at_revision(config: Config, rev: str) -> Iterator[tuple[Config, str, list[str]]]:
    """Given the working config and a revision, yield (the Config of the site at that
    revision, its short commit id, notes for the reader). Raise ConfigError (exit 2) when
    the folder is not a git repository, the revision does not exist, or the config.yaml of
    that revision does not load."""
    top = toplevel(config.config_path.parent)
    sha = commit(top, rev)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="publisher-plan-") as temp:
        root = Path(temp)
        config_rel = _relative_or_none(config.config_path, top)
        if config_rel is not None and _exists(top, sha, config_rel):
            shown = _git(top, "show", f"{sha}:{config_rel}")
            if shown.returncode != 0:
                raise _fail(f"cannot read {config_rel} at {rev}: {shown.stderr.decode().strip()}")
            old_path = root / config_rel
            old_path.parent.mkdir(parents=True, exist_ok=True)
            old_path.write_bytes(shown.stdout)
            old = _load(old_path, f"{rev}:{config_rel}")
        else:
            notes.append(f"config.yaml is not in {rev}: the current one is used for both sides")
            old = config
        # The revision's content_dir, as a path in the repository (absolute paths and
        # environment overrides included), then the same place in the temporary copy.
        content = old.content_dir
        if content.is_relative_to(root.resolve()):
            content_rel = content.relative_to(root.resolve()).as_posix()
        else:
            content_rel = _inside(content, top, "content_dir")
        target = root / content_rel
        target.mkdir(parents=True, exist_ok=True)
        if _exists(top, sha, content_rel):
            _extract(top, sha, content_rel, root)
        else:
            notes.append(f"{content_rel}/ is not in {rev}: every draft counts as added")
        yield (
            old.model_copy(update={"content_dir": target.resolve(), "state_dir": config.state_dir}),
            sha[:12],
            notes,
        )


def _relative_or_none(path: Path, top: Path) -> str | None:
    try:
        return path.resolve().relative_to(top).as_posix()
    except ValueError:
        return None


def _load(path: Path, shown: str) -> Config:
    try:
        # a revision's content_dir is copied out after its config is read
        return config_module.load(path, content_must_exist=False)
    except ConfigError as exc:
        raise ConfigError(
            [
                Problem(shown, problem.field, problem.message, problem.severity)
                for problem in exc.problems
            ]
        ) from None


def _extract(top: Path, sha: str, rel: str, root: Path) -> None:
    """Unpack `rel` (a folder or file of the repository) as it was at `sha` into `root`."""
    command = ["git", "-C", str(top), "archive", "--format=tar", sha, "--", rel]
    # Streamed: a content folder of videos need not fit in memory.
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors) as process,
    ):
        assert process.stdout is not None
        try:
            with tarfile.open(fileobj=process.stdout, mode="r|") as tar:
                # "data" refuses absolute names, links out of the folder and device files.
                tar.extractall(root, filter="data")
        except tarfile.TarError as exc:
            process.kill()
            raise _fail(f"git archive of {rel} could not be read: {exc}") from None
        if process.wait() != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()
            raise _fail(f"git archive of {rel} failed: {message}")
