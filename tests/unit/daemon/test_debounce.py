"""The watcher's debounce books, with the time passed in: when a changed path is read, when
it is stable, and that the two sides of a rename are delivered together."""

from __future__ import annotations

from pathlib import Path

from publisher.daemon.debounce import OPEN_WRITER_QUIETS, Debounce
from publisher.daemon.observe import Observation

QUIET = 0.5
A, B = Path("/c/a.yaml"), Path("/c/b.yaml")
V1, V2 = Observation("v1", (1, 1, 1, 1)), Observation("v2", (1, 2, 2, 2))


def read(books: Debounce, now: float, seen: dict[Path, Observation]) -> dict[Path, Observation]:
    """One round of the debounce thread: read what is due (as `seen` says), settle, take."""
    due = books.due(now)
    books.settle({path: seen[path] for path in due}, due, now)
    return books.take_settled()


def test_a_path_is_read_after_a_quiet_period_and_delivered_when_two_reads_agree() -> None:
    books = Debounce(QUIET)
    books.note([A], now=0.0, writing=False, delay=None)
    assert books.due(0.4) == {}
    assert read(books, 0.5, {A: V1}) == {}  # first read
    assert books.next_due() == 1.0
    assert read(books, 1.0, {A: V1}) == {A: V1}  # the same again: stable
    assert A not in books


def test_a_read_that_differs_waits_another_quiet_period() -> None:
    books = Debounce(QUIET)
    books.note([A], now=0.0, writing=False, delay=None)
    read(books, 0.5, {A: V1})
    assert read(books, 1.0, {A: V2}) == {}  # still being written
    assert read(books, 1.5, {A: V2}) == {A: V2}


def test_an_event_during_a_read_makes_that_read_stale() -> None:
    books = Debounce(QUIET)
    books.note([A], now=0.0, writing=False, delay=None)
    due = books.due(0.5)
    books.note([A], now=0.6, writing=False, delay=None)  # while the thread was reading
    books.settle({A: V1}, due, 0.7)
    assert books.take_settled() == {}
    assert books.next_due() == 1.1


def test_a_file_its_writer_keeps_open_is_not_final_until_it_stays_silent() -> None:
    books = Debounce(QUIET)
    books.note([A], now=0.0, writing=True, delay=None)
    silent_enough = QUIET * OPEN_WRITER_QUIETS
    now = 0.5
    while now < silent_enough:
        assert read(books, now, {A: V1}) == {}
        now += QUIET
    assert read(books, now, {A: V1}) == {A: V1}


def test_a_close_makes_the_file_final_at_once() -> None:
    books = Debounce(QUIET)
    books.note([A], now=0.0, writing=True, delay=None)
    books.note([A], now=0.1, writing=False, delay=None)  # IN_CLOSE_WRITE
    read(books, 0.6, {A: V1})
    assert read(books, 1.1, {A: V1}) == {A: V1}


def test_both_sides_of_a_rename_come_together() -> None:
    gone = Observation(None)
    books = Debounce(QUIET)
    books.note([A, B], now=0.0, writing=False, delay=None)
    books.note([B], now=0.3, writing=None, delay=None)  # the new side moves again
    seen = {A: gone, B: V1}
    assert read(books, 0.5, seen) == {}  # A read once
    assert read(books, 0.8, seen) == {}  # B read once
    assert read(books, 1.0, seen) == {}  # A stable, but B is not yet: A waits for it
    assert read(books, 1.3, seen) == {A: gone, B: V1}


def test_a_rescan_notes_a_path_due_at_once() -> None:
    books = Debounce(QUIET)
    books.note([A], now=5.0, writing=None, delay=0)
    assert books.due(5.0) == {A: 1}
