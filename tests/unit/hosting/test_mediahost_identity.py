"""A signed link serves the very file it was made for, or nothing (issue 8): replaced,
swapped for a link, appended to, touched or rewritten in place, the file gets a 404, over
real loopback HTTP; the hash is not read again per request."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from publisher.hosting.mediahost import ServeHost, identity
from tests.support.clock import ManualClock
from tests.support.wait import wait_for

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PHOTO = b"\xff\xd8\xff\xe0 the photo as validated " + bytes(range(256)) * 8
OTHER = b"\xff\xd8\xff\xe0 another photo, same size " + bytes(range(256)) * 8
OTHER = OTHER[: len(PHOTO)]
SECRET = b"\xff\xd8\xff\xe0 outside content_dir"


@pytest.fixture
def content(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    (folder / "album").mkdir(parents=True)
    (folder / "photo.jpg").write_bytes(PHOTO)
    (folder / "other.jpg").write_bytes(OTHER)
    (folder / "album" / "photo.jpg").write_bytes(PHOTO)
    (tmp_path / "secret.jpg").write_bytes(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "photo.jpg").write_bytes(SECRET)
    return folder


def _serve(content: Path, tmp_path: Path) -> ServeHost:
    served = ServeHost(
        content_dir=content,
        state_dir=tmp_path / "state",
        listen=("127.0.0.1", 0),
        public_url="http://127.0.0.1:0",
        link_ttl=timedelta(hours=2),
        clock=ManualClock(T0),
    )
    served.start()
    return served


@pytest.fixture
def host(content: Path, tmp_path: Path) -> Iterator[ServeHost]:
    served = _serve(content, tmp_path)
    yield served
    served.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5, trust_env=False) as client:
        yield client


def _replaced_by_another_file(content: Path) -> None:
    """An editor's save: a new file renamed over the old one (same name, size, mtime)."""
    before = (content / "photo.jpg").stat()
    (content / "new.jpg").write_bytes(OTHER)
    os.utime(content / "new.jpg", ns=(before.st_atime_ns, before.st_mtime_ns))
    os.rename(content / "new.jpg", content / "photo.jpg")


def _swapped_for_a_link_outside(content: Path) -> None:
    (content / "photo.jpg").unlink()
    (content / "photo.jpg").symlink_to(content.parent / "secret.jpg")


def _swapped_for_a_link_to_another_inside_file(content: Path) -> None:
    (content / "photo.jpg").unlink()
    (content / "photo.jpg").symlink_to(content / "other.jpg")


def _appended_to(content: Path) -> None:
    with (content / "photo.jpg").open("ab") as handle:
        handle.write(b"more")


def _touched(content: Path) -> None:
    before = (content / "photo.jpg").stat()
    os.utime(content / "photo.jpg", ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))


def _rewritten_in_place_mtime_put_back(content: Path) -> None:
    """Same inode, same size, the mtime set back: only the bytes tell."""
    before = (content / "photo.jpg").stat()
    with (content / "photo.jpg").open("r+b") as handle:
        handle.write(OTHER)
    os.utime(content / "photo.jpg", ns=(before.st_atime_ns, before.st_mtime_ns))
    after = (content / "photo.jpg").stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )


def _folder_swapped_for_a_link_outside(content: Path) -> None:
    os.rename(content / "album", content / ".parked")
    (content / "album").symlink_to(content.parent / "outside")


CHANGES: dict[str, tuple[str, Callable[[Path], None]]] = {
    "replaced by another file": ("photo.jpg", _replaced_by_another_file),
    "swapped for a link outside": ("photo.jpg", _swapped_for_a_link_outside),
    "swapped for a link inside": ("photo.jpg", _swapped_for_a_link_to_another_inside_file),
    "appended to": ("photo.jpg", _appended_to),
    "touched": ("photo.jpg", _touched),
    "rewritten in place, mtime put back": ("photo.jpg", _rewritten_in_place_mtime_put_back),
    "a folder on its path swapped for a link": (
        "album/photo.jpg",
        _folder_swapped_for_a_link_outside,
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_file_changed_after_its_link_was_made_is_404(
    host: ServeHost, content: Path, http: httpx.Client, change: str
) -> None:
    media, make_change = CHANGES[change]
    url = host.url_for(content / media)
    assert http.get(url).content == PHOTO
    make_change(content)
    for method in ("GET", "HEAD"):
        response = http.request(method, url)
        assert response.status_code == 404, method
        assert response.content in (b"not found\n", b"")
    ranged = http.get(url, headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 404
    # a link made now is for the file as it is now (one that leads out: see below)
    if change not in OUT_OF_THE_FOLDER:
        fresh = http.get(host.url_for(content / media))
        assert fresh.status_code == 200
        assert fresh.content == (content / media).read_bytes()


OUT_OF_THE_FOLDER = ["swapped for a link outside", "a folder on its path swapped for a link"]


@pytest.mark.parametrize("change", OUT_OF_THE_FOLDER)
def test_a_link_out_of_the_folder_cannot_be_made_after_a_swap(
    host: ServeHost, content: Path, change: str
) -> None:
    media, make_change = CHANGES[change]
    make_change(content)
    with pytest.raises(ValueError, match="content folder"):
        host.url_for(content / media)


def test_the_same_file_renamed_away_and_back_is_served(
    host: ServeHost, content: Path, http: httpx.Client
) -> None:
    url = host.url_for(content / "photo.jpg")
    os.rename(content / "photo.jpg", content / ".parked.jpg")
    assert http.get(url).status_code == 404
    os.rename(content / ".parked.jpg", content / "photo.jpg")
    response = http.get(url, headers={"Range": "bytes=4-9"})
    assert response.status_code == 206
    assert response.content == PHOTO[4:10]


def test_a_link_made_before_a_restart_still_checks_the_bytes(
    content: Path, tmp_path: Path, http: httpx.Client
) -> None:
    first = _serve(content, tmp_path)
    url = first.url_for(content / "photo.jpg")
    other_url = first.url_for(content / "other.jpg")
    port = first.port
    first.stop()
    _rewritten_in_place_mtime_put_back(content)  # while the daemon is down
    second = _serve(content, tmp_path)
    try:
        base = f"http://127.0.0.1:{second.port}"
        assert http.get(url.replace(f"http://127.0.0.1:{port}", base)).status_code == 404
        unchanged = http.get(other_url.replace(f"http://127.0.0.1:{port}", base))
        assert unchanged.status_code == 200
        assert unchanged.content == OTHER
    finally:
        second.stop()


def test_a_refused_link_is_one_warning_naming_the_path_not_the_link(
    host: ServeHost, content: Path, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="publisher.hosting.mediahost")
    url = host.url_for(content / "album" / "photo.jpg")
    with (content / "album" / "photo.jpg").open("ab") as handle:
        handle.write(b"more")
    for _ in range(3):  # Meta's fetcher asks again: one line, not three
        assert http.get(url).status_code == 404

    def warnings() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.levelno >= logging.WARNING]

    wait_for(warnings, timeout=5, what="the warning")
    assert len(warnings()) == 1
    line = warnings()[0].getMessage()
    assert "album/photo.jpg" in line and "404" in line
    link_parts = url.split("/")[4:7]  # expires, binding, signature
    assert not any(part in record.getMessage() for part in link_parts for record in caplog.records)
    # a link nobody signed is not worth a warning (scanners)
    assert http.get(url[: -len("jpg")] + "png").status_code == 404
    assert len(warnings()) == 1


# --- the hashes ---------------------------------------------------------------------------


def test_a_file_is_hashed_once_while_its_stat_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(PHOTO)
    digests = identity.Digests(racy=0)
    with path.open("rb") as handle:
        first = identity.bind(handle, digests)
    closed = path.open("rb")
    closed.close()  # reading it would raise: the hash must come from memory
    with path.open("rb") as handle:
        info = os.fstat(handle.fileno())
    assert digests.of(closed, info) == first.sha256
    assert first.size == len(PHOTO)


def test_a_remembered_hash_is_not_used_once_the_file_was_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(PHOTO)
    digests = identity.Digests(racy=0)
    with path.open("rb") as handle:
        bound = identity.bind(handle, digests)
    # past the kernel's coarse ctime tick, so that the rewrite gets a ctime of its own
    wait_for(lambda: time.time_ns() - path.stat().st_ctime_ns > 50_000_000, what="a tick")
    content = path.parent
    _rewritten_in_place_mtime_put_back(content)
    with path.open("rb") as handle:
        assert bound.holds_for(os.fstat(handle.fileno()))  # inode, size and mtime agree
        assert identity.still(bound, handle, digests) is False  # the bytes do not


def test_a_file_changed_just_before_it_was_hashed_is_hashed_again(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(PHOTO)  # its ctime is now: a write in the same tick would not show
    digests = identity.Digests()
    with path.open("rb") as handle:
        identity.bind(handle, digests)
        info = os.fstat(handle.fileno())
    closed = path.open("rb")
    closed.close()
    with pytest.raises(ValueError, match="closed file"):
        digests.of(closed, info)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1.2.3.4",
        "1.2.3.4.5.6",
        "x.2.3.4." + "A" * 43,
        "1.2.3.4." + "A" * 42,
        "1.2.-3.4." + "A" * 43,
        "1.2.3.4." + "!" * 43,
    ],
)
def test_a_binding_that_is_not_one_is_refused(text: str) -> None:
    assert identity.Binding.parse(text) is None


def test_a_binding_round_trips() -> None:
    bound = identity.Binding(0xFE00, 123456, 42, 1_764_576_000_123_456_789, bytes(range(32)))
    assert identity.Binding.parse(bound.text()) == bound
    unbound_mtime = identity.Binding(1, 2, 3, None, bytes(32))
    assert identity.Binding.parse(unbound_mtime.text()) == unbound_mtime
