"""atomicfile.write_bytes: mode, owner, symlinks, compare-and-swap, no temp left (§4.5)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from publisher.store import atomicfile
from tests.support.paths import REPO

CHILD_ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(atomicfile.TEMP_SUFFIX))


@pytest.mark.parametrize(
    ("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o644)]
)
def test_new_file_gets_0644_minus_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        atomicfile.write_bytes(tmp_path / "new.yaml", b"a: 1\n")
        assert atomicfile.current_umask() == umask
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.yaml").st_mode) == mode
    assert (tmp_path / "new.yaml").read_bytes() == b"a: 1\n"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mode", [0o640, 0o600, 0o664, 0o755, 0o444])
def test_existing_mode_is_kept(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "draft.yaml"
    path.write_bytes(b"old\n")
    path.chmod(mode)
    atomicfile.write_bytes(path, b"new\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert path.read_bytes() == b"new\n"


def test_owner_and_group_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "draft.yaml"
    path.write_bytes(b"old\n")
    if os.geteuid() == 0:
        # As root (the systemd unit may run so) the file must stay the user's, not root's.
        os.chown(path, 12345, 23456)
    before = os.stat(path)
    atomicfile.write_bytes(path, b"new\n")
    after = os.stat(path)
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert after.st_ino != before.st_ino  # really replaced, not rewritten in place


@pytest.mark.parametrize("relative", [True, False])
def test_symlink_stays_a_link_and_its_target_changes(tmp_path: Path, relative: bool) -> None:
    real_dir = tmp_path / "real"
    link_dir = tmp_path / "links"
    real_dir.mkdir()
    link_dir.mkdir()
    target = real_dir / "draft.yaml"
    target.write_bytes(b"old\n")
    target.chmod(0o640)
    link = link_dir / "draft.yaml"
    link.symlink_to(Path("..") / "real" / "draft.yaml" if relative else target)
    link_text = os.readlink(link)

    atomicfile.write_bytes(link, b"new\n")

    assert link.is_symlink()
    assert os.readlink(link) == link_text
    assert target.read_bytes() == b"new\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert leftovers(real_dir) == [] and leftovers(link_dir) == []


def test_symlink_chain_is_followed_to_the_end(tmp_path: Path) -> None:
    target = tmp_path / "target.yaml"
    target.write_bytes(b"old\n")
    (tmp_path / "one.yaml").symlink_to(target)
    (tmp_path / "two.yaml").symlink_to(tmp_path / "one.yaml")
    atomicfile.write_bytes(tmp_path / "two.yaml", b"new\n")
    assert (tmp_path / "one.yaml").is_symlink() and (tmp_path / "two.yaml").is_symlink()
    assert target.read_bytes() == b"new\n"


@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt])
def test_no_temp_left_when_interrupted(tmp_path: Path, failure: type[BaseException]) -> None:
    path = tmp_path / "draft.yaml"
    path.write_bytes(b"old\n")

    def interrupt() -> None:
        raise failure("stop")

    with pytest.raises(failure):
        atomicfile.write_bytes(path, b"new\n", _before_replace=interrupt)
    assert path.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["draft.yaml"]


def test_no_temp_left_when_the_rename_fails(tmp_path: Path) -> None:
    target = tmp_path / "a-folder"
    (target / "inside").mkdir(parents=True)
    with pytest.raises(OSError):
        atomicfile.write_bytes(target, b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-folder"]


def test_large_and_empty_contents(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    atomicfile.write_bytes(path, data)
    assert path.read_bytes() == data
    atomicfile.write_bytes(path, b"")
    assert path.read_bytes() == b""


def test_remove_stale_temps_removes_only_ours(tmp_path: Path) -> None:
    ours = tmp_path / f".draft.yaml.k3j2{atomicfile.TEMP_SUFFIX}"
    theirs = [tmp_path / ".draft.yaml.swp", tmp_path / "notes.publisher-tmp", tmp_path / "a.yaml"]
    for path in [ours, *theirs]:
        path.write_bytes(b"x")
    assert atomicfile.remove_stale_temps(tmp_path) == 1
    assert not ours.exists()
    assert all(path.exists() for path in theirs)
    assert atomicfile.remove_stale_temps(tmp_path / "missing") == 0


WRITER = r"""
import sys
from pathlib import Path
from publisher.store import atomicfile
path = Path(sys.argv[1])
contents = [b"A" * 300_000 + b"\n", b"B" * 200_000 + b"\n"]
i = 0
sys.stdout.write("ready\n"); sys.stdout.flush()
while True:
    atomicfile.write_bytes(path, contents[i % 2])
    i += 1
"""


@pytest.mark.slow
def test_kill_9_leaves_old_or_new_content(tmp_path: Path) -> None:
    """RELIABILITY C7: a writer SIGKILLed at random moments never leaves a torn file."""
    path = tmp_path / "draft.yaml"
    path.write_bytes(b"A" * 300_000 + b"\n")
    valid = {b"A" * 300_000 + b"\n", b"B" * 200_000 + b"\n"}
    for round_number in range(20):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdout=subprocess.PIPE,
            text=True,
            env=CHILD_ENV,
        )
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        time.sleep(0.002 + (round_number % 7) * 0.003)
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        assert path.read_bytes() in valid
    atomicfile.remove_stale_temps(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["draft.yaml"]


def test_exchange_swaps_two_names_and_refuses_a_missing_one(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"A")
    (tmp_path / "b").write_bytes(b"B")
    folder = os.open(tmp_path, os.O_RDONLY)
    try:
        assert atomicfile.exchange(folder, "a", "b") is True  # Linux with glibc: CI's machine
        assert (tmp_path / "a").read_bytes() == b"B"
        assert (tmp_path / "b").read_bytes() == b"A"
        with pytest.raises(FileNotFoundError):
            atomicfile.exchange(folder, "a", "missing")
        assert (tmp_path / "a").read_bytes() == b"B"
    finally:
        os.close(folder)
