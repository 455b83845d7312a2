"""The watcher on real files with the real inotify observer. Every wait polls a condition with
a deadline; "nothing else was delivered" is shown by a sentinel draft written afterwards and
delivered (events are settled in the order they came). The sleeps left are a writer's own
pauses: the watcher measures quietness in real seconds on purpose (see `Watcher`), and its
books are unit-tested with the time passed in (tests/unit/daemon/test_debounce.py)."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath
from typing import Any

import pytest

from publisher.daemon.watcher import Watcher, relevant
from publisher.drafts import statusblock, writeback
from tests.support.wait import wait_for

QUIET = 0.1  # short, for speed; the editor-save test uses a longer one


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Recorder:
    """An on_change that records each call as {path: sha256 of its bytes, or None if gone}."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[dict[Path, str | None]] = []
        self._fail_first = fail_first
        self._lock = threading.Lock()

    def __call__(self, paths: set[Path]) -> None:
        call = {path: _seen(path) for path in paths}
        with self._lock:
            self.calls.append(call)
            if len(self.calls) <= self._fail_first:
                raise RuntimeError("the daemon choked")

    def deliveries(self, path: Path) -> list[str | None]:
        with self._lock:
            return [call[path] for call in self.calls if path in call]

    def wait_for(self, path: Path, count: int = 1, timeout: float = 3.0) -> list[str | None]:
        wait_for(
            lambda: len(self.deliveries(path)) >= count,
            timeout=timeout,
            every=0.01,
            what=f"{path.name} delivered",
        )
        return self.deliveries(path)

    def settle(self, content: Path, timeout: float = 3.0) -> None:
        """Write a new sentinel draft and wait for it: every earlier event is settled then."""
        sentinel = content / f"zz-sentinel-{len(self.calls)}-{time.monotonic_ns()}.yaml"
        sentinel.write_bytes(b"caption: sentinel\n")
        self.wait_for(sentinel, timeout=timeout)


def _seen(path: Path) -> str | None:
    """sha256 of a regular file's bytes, "special" for a FIFO and the like, None if gone."""
    if path.is_file():
        return digest(path.read_bytes())
    return "special" if path.exists() else None


@pytest.fixture
def content(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    folder.mkdir()
    return folder


@contextmanager
def watching(content: Path, on_change: Recorder, **options: Any) -> Iterator[Watcher]:
    options.setdefault("quiet", QUIET)
    watcher = Watcher(content, on_change, **options)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop()


@pytest.mark.slow
def test_a_new_draft_is_delivered_within_two_seconds(content: Path) -> None:
    recorder = Recorder()
    with watching(content, recorder, quiet=0.5) as watcher:  # the daemon's default
        assert watcher.is_alive()
        draft = content / "new.yaml"
        started = time.monotonic()
        draft.write_bytes(b"caption: hello\n")
        assert recorder.wait_for(draft, timeout=2.0) == [digest(b"caption: hello\n")]
        assert time.monotonic() - started < 2.0
    assert not watcher.is_alive()


# --- editor saves: one delivery of the final bytes, never a deletion ------------------------


def in_place(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def vim_backupcopy_no(path: Path, data: bytes) -> None:
    backup = path.with_name(path.name + "~")
    os.rename(path, backup)
    with open(path, "wb") as file:
        file.write(data)
        os.fsync(file.fileno())
    os.unlink(backup)


def vim_backupcopy_yes(path: Path, data: bytes) -> None:
    backup = path.with_name(path.name + "~")
    shutil.copyfile(path, backup)
    with open(path, "r+b") as file:
        file.truncate(0)
        file.write(data)
    os.unlink(backup)


def temp_then_replace(path: Path, data: bytes) -> None:
    # mkstemp's "tmpXXXX" has no suffix: the watcher sees it as media until it is renamed.
    fd, temp = tempfile.mkstemp(dir=path.parent)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(temp, path)


def chunks_with_pauses(path: Path, data: bytes) -> None:
    with open(path, "wb") as file:
        for start in range(0, len(data), 256 * 1024):
            file.write(data[start : start + 256 * 1024])
            file.flush()
            time.sleep(0.02)


WRITERS = [in_place, vim_backupcopy_no, vim_backupcopy_yes, temp_then_replace, chunks_with_pauses]


@pytest.mark.slow
def test_each_editor_save_is_one_delivery_of_the_final_bytes(content: Path) -> None:
    drafts = {writer: content / f"{writer.__name__}.yaml" for writer in WRITERS}
    final = {writer: f"caption: saved by {writer.__name__}\n".encode() for writer in WRITERS}
    final[chunks_with_pauses] = b"caption: " + b"x" * (4 * 1024 * 1024) + b"\n"  # 4 MB
    for draft in drafts.values():
        draft.write_bytes(b"caption: before\n")
    recorder = Recorder()
    # All five write at once under one watcher; a longer quiet period than the other tests
    # so that a slow CI machine pausing inside vim's rename-then-write is not a deletion.
    with watching(content, recorder, quiet=0.25):
        threads = [
            threading.Thread(target=writer, args=(drafts[writer], final[writer]))
            for writer in WRITERS
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for draft in drafts.values():
            recorder.wait_for(draft)
        recorder.settle(content)
    for writer in WRITERS:
        assert recorder.deliveries(drafts[writer]) == [digest(final[writer])], writer.__name__
    delivered = {path.name for call in recorder.calls for path in call}
    assert not any(name.endswith("~") or name.startswith("tmp") for name in delivered)


def test_a_half_written_file_is_delivered_only_when_finished(content: Path) -> None:
    draft = content / "half.yaml"
    recorder = Recorder()
    # The pause (0.3 s) is longer than two quiet periods: only the still-open writer keeps
    # the half from being taken as final (RELIABILITY.md §2.4).
    with watching(content, recorder), open(draft, "wb") as file:
        file.write(b"caption: part")
        file.flush()
        time.sleep(0.3)
        file.write(b" and the rest\n")
        file.close()
        assert recorder.wait_for(draft) == [digest(b"caption: part and the rest\n")]
        recorder.settle(content)
        assert len(recorder.deliveries(draft)) == 1


@pytest.mark.slow
def test_two_saves_within_two_quiet_periods_are_one_delivery(content: Path) -> None:
    draft = content / "twice.yaml"
    recorder = Recorder()
    with watching(content, recorder, quiet=0.3):
        draft.write_bytes(b"caption: first\n")
        time.sleep(0.45)  # quiet once, but not twice: the first save is not stable yet
        draft.write_bytes(b"caption: second\n")
        assert recorder.wait_for(draft) == [digest(b"caption: second\n")]
        recorder.settle(content)
        assert len(recorder.deliveries(draft)) == 1


# --- renames, deletions, folders, media --------------------------------------------------


def test_a_rename_is_one_call_with_both_paths(content: Path) -> None:
    old, new = content / "a.yaml", content / "b.yaml"
    old.write_bytes(b"caption: a\n")
    recorder = Recorder()
    with watching(content, recorder):
        os.rename(old, new)
        recorder.wait_for(new)
        recorder.settle(content)
    assert [call for call in recorder.calls if old in call or new in call] == [
        {old: None, new: digest(b"caption: a\n")}
    ]


def test_a_rename_then_an_edit_still_delivers_both_sides_together(content: Path) -> None:
    old, new = content / "a.yaml", content / "b.yaml"
    old.write_bytes(b"caption: a\n")
    recorder = Recorder()
    with watching(content, recorder):
        os.rename(old, new)
        time.sleep(1.5 * QUIET)  # the old side is settled by now; the new side is not
        new.write_bytes(b"caption: a, edited\n")
        recorder.wait_for(old)
        first = next(call for call in recorder.calls if old in call)
        assert first[old] is None and new in first


def test_a_deletion_is_delivered_once(content: Path) -> None:
    draft = content / "gone.yaml"
    draft.write_bytes(b"caption: bye\n")
    recorder = Recorder()
    with watching(content, recorder):
        draft.unlink()
        assert recorder.wait_for(draft) == [None]
        recorder.settle(content)
        assert recorder.deliveries(draft) == [None]


@pytest.mark.slow
def test_folders_moved_in_renamed_and_moved_out(tmp_path: Path, content: Path) -> None:
    outside = tmp_path / "outside" / "batch"
    outside.mkdir(parents=True)
    for name in ("1.yaml", "2.yaml", "3.yaml"):
        (outside / name).write_bytes(f"caption: {name}\n".encode())
    recorder = Recorder()
    with watching(content, recorder):
        os.rename(outside, content / "batch")
        for name in ("1.yaml", "2.yaml", "3.yaml"):
            recorder.wait_for(content / "batch" / name)

        os.rename(content / "batch", content / "renamed")
        recorder.wait_for(content / "renamed" / "1.yaml")
        recorder.settle(content)
        renamed = [call for call in recorder.calls if content / "renamed" / "1.yaml" in call]
        assert len(renamed) == 1  # the old and the new paths in one call
        assert {path.relative_to(content).as_posix(): digest is None for path, digest in
                renamed[0].items()} == {
            "batch/1.yaml": True, "batch/2.yaml": True, "batch/3.yaml": True,
            "renamed/1.yaml": False, "renamed/2.yaml": False, "renamed/3.yaml": False,
        }  # fmt: skip

        os.rename(content / "renamed", tmp_path / "outside" / "away")
        for name in ("1.yaml", "2.yaml", "3.yaml"):
            assert recorder.wait_for(content / "renamed" / name, count=2)[-1] is None


def test_a_media_change_is_delivered(content: Path) -> None:
    image = content / "look.jpg"
    image.write_bytes(b"\xff\xd8 first")
    recorder = Recorder()
    with watching(content, recorder):
        image.write_bytes(b"\xff\xd8 second, longer")
        assert recorder.wait_for(image) == [digest(b"\xff\xd8 second, longer")]


def test_our_own_status_write_back_is_not_delivered(content: Path) -> None:
    draft = content / "post.yaml"
    draft.write_bytes(b"type: post\ncaption: hi  # my comment\n")
    recorder = Recorder()
    with watching(content, recorder, fingerprint=statusblock.fingerprint):
        writeback.replace_block(
            content, draft, {"state": "scheduled", "scheduled_for": "2026-12-01T09:00"}
        )
        assert b"status:" in draft.read_bytes()
        recorder.settle(content)
        assert recorder.deliveries(draft) == []
        # ...while the user's own edit of the same draft is.
        draft.write_bytes(draft.read_bytes().replace(b"caption: hi", b"caption: hello"))
        assert len(recorder.wait_for(draft)) == 1


def test_editor_temp_files_and_ignored_names_are_not_delivered(content: Path) -> None:
    (content / "_drafts").mkdir()
    (content / ".git").mkdir()
    ignored = ["post.yaml~", ".post.yaml.swp", "4913", "#post.yaml#", "_drafts/x.yaml",
               ".git/config", ".goutputstream-AB12"]  # fmt: skip
    recorder = Recorder()
    with watching(content, recorder):
        for name in ignored:
            (content / name).write_bytes(b"anything\n")
        recorder.settle(content)
    delivered = {path.relative_to(content).as_posix() for call in recorder.calls for path in call}
    assert not delivered & set(ignored)


# --- failures that must not stop watching --------------------------------------------------


def test_an_exception_in_on_change_does_not_stop_watching(
    content: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(fail_first=1)
    with watching(content, recorder) as watcher:
        first, second = content / "first.yaml", content / "second.yaml"
        first.write_bytes(b"caption: 1\n")
        recorder.wait_for(first)
        second.write_bytes(b"caption: 2\n")
        recorder.wait_for(second)
        assert watcher.is_alive()
        # The failed delivery was not recorded as done: a rescan offers it again.
        watcher.rescan()
        recorder.wait_for(first, count=2)
    failures = [
        r for r in caplog.records if (r.exc_info or r.exc_text) and "failed" in r.getMessage()
    ]
    assert len(failures) == 1


def test_exceptions_in_relevance_and_fingerprint_do_not_stop_watching(
    content: Path, tmp_path: Path
) -> None:
    def is_relevant(relative: PurePath) -> bool:
        if relative.name == "boom.yaml":
            raise ValueError("boom")
        return relevant(relative)

    def fingerprint(data: bytes) -> str:
        if b"\xff" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "invalid start byte")
        return digest(data)

    recorder = Recorder()
    with watching(content, recorder, is_relevant=is_relevant, fingerprint=fingerprint) as watcher:
        (content / "boom.yaml").write_bytes(b"caption: boom\n")
        binary = content / "binary.yaml"
        binary.write_bytes(b"caption: \xff\n")
        assert recorder.wait_for(binary) == [digest(b"caption: \xff\n")]
        # A scan meets boom.yaml too, and still finds the change no event reported.
        (content / "post.yaml").write_bytes(b"caption: hi\n")
        recorder.wait_for(content / "post.yaml")
        draft = write_unseen(content, tmp_path)
        watcher.rescan()
        assert recorder.wait_for(draft, count=2)[-1] == digest(draft.read_bytes())
        assert watcher.is_alive()


# --- lost events: the rescan ---------------------------------------------------------------


def write_unseen(content: Path, tmp_path: Path) -> Path:
    """Change a draft through a hard link outside content_dir: inotify reports it to the
    other folder only, so the watcher gets no event — a lost event, for real."""
    draft = content / "post.yaml"
    alias = tmp_path / "alias.yaml"
    if not alias.exists():
        os.link(draft, alias)
    with open(alias, "ab") as file:
        file.write(b"# edited where no one watches\n")
    return draft


def test_rescan_delivers_a_change_no_event_reported(content: Path, tmp_path: Path) -> None:
    (content / "post.yaml").write_bytes(b"caption: hi\n")
    recorder = Recorder()
    with watching(content, recorder) as watcher:
        draft = write_unseen(content, tmp_path)
        recorder.settle(content)
        assert recorder.deliveries(draft) == []  # the observer really missed it
        watcher.rescan()
        assert recorder.wait_for(draft) == [digest(draft.read_bytes())]


def test_an_inotify_overflow_triggers_a_rescan(content: Path, tmp_path: Path) -> None:
    (content / "post.yaml").write_bytes(b"caption: hi\n")
    recorder = Recorder()
    with watching(content, recorder):
        draft = write_unseen(content, tmp_path)
        # The line watchdog logs when the kernel queue overflowed (watchdog 7.1 inotify_c.py).
        logging.getLogger("watchdog.observers.inotify_c").warning(
            "Inotify queue overflowed; filesystem events were lost"
        )
        assert recorder.wait_for(draft) == [digest(draft.read_bytes())]


def test_a_rescan_finds_a_deletion_made_while_stopped(content: Path) -> None:
    draft = content / "post.yaml"
    draft.write_bytes(b"caption: hi\n")
    recorder = Recorder()
    watcher = Watcher(content, recorder, quiet=QUIET)
    watcher.start()
    observer = watcher._observer
    assert observer is not None
    # Unschedule the watch: the deletion below happens while nothing observes the folder.
    observer.unschedule_all()
    try:
        draft.unlink()
        watcher.rescan()
        assert recorder.wait_for(draft) == [None]
    finally:
        watcher.stop()


# --- the observer's own life ----------------------------------------------------------------


def test_start_fails_with_oserror_on_a_missing_folder(tmp_path: Path) -> None:
    watcher = Watcher(tmp_path / "missing", Recorder())
    with pytest.raises(OSError):
        watcher.start()
    assert not watcher.is_alive()


def test_deleting_content_dir_kills_the_watch_and_cancels_nothing(content: Path) -> None:
    draft = content / "post.yaml"
    draft.write_bytes(b"caption: hi\n")
    recorder = Recorder()
    with watching(content, recorder) as watcher:
        shutil.rmtree(content)
        wait_for(
            lambda: not watcher.is_alive(), timeout=3.0, every=0.01, what="is_alive() turns False"
        )
        time.sleep(5 * QUIET)  # past the quiet periods in which a deletion would be delivered
    assert recorder.deliveries(draft) == []


def test_a_fifo_or_a_huge_file_named_like_a_draft_never_blocks_watching(content: Path) -> None:
    """A FIFO named x.yaml would block a plain open() for ever; a huge file is not read
    whole. Both are delivered (the daemon reports them), and watching goes on."""
    recorder = Recorder()
    with watching(content, recorder) as watcher:
        fifo = content / "pipe.yaml"
        os.mkfifo(fifo)
        huge = content / "huge.yaml"
        huge.write_bytes(b"caption: x\n" * 100_000)  # over a megabyte
        recorder.wait_for(fifo)
        recorder.wait_for(huge)
        watcher.rescan()  # a full scan walks past them too
        good = content / "good.yaml"
        good.write_bytes(b"caption: fine\n")
        recorder.wait_for(good)
        assert watcher.is_alive()
