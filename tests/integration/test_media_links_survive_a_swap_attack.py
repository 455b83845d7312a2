"""The media server under a swap attack (issue 8): whoever can write to content_dir swaps a
media file, or a folder on its path, between the file a link was signed for and a file
outside content_dir, in a tight loop, while the signed link is fetched hundreds of times
over real loopback HTTP. The link must never answer with the outside bytes: each answer is
the signed file's bytes (200) or a 404."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from publisher.hosting.mediahost import ServeHost
from tests.support.ports import HOST, free_port
from tests.support.wait import wait_for

ATTACK_SECONDS = 2.0  # at least; and at least MIN_REQUESTS requests (a busy machine is slow)
MIN_REQUESTS = 300
INSIDE = b"\xff\xd8\xff\xe0 the photo the link was signed for " + b"i" * 4000
OUTSIDE = b"\xff\xd8\xff\xe0 SECRET bytes from outside content_dir " + b"o" * 4000


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    content, outside = tmp_path / "content", tmp_path / "outside"
    (content / "album").mkdir(parents=True)
    (outside / "album").mkdir(parents=True)
    (content / "album" / "photo.jpg").write_bytes(INSIDE)
    (content / "photo.jpg").write_bytes(INSIDE)
    (outside / "album" / "photo.jpg").write_bytes(OUTSIDE)
    (outside / "photo.jpg").write_bytes(OUTSIDE)
    return content, outside


@pytest.fixture
def host(folders: tuple[Path, Path], tmp_path: Path) -> Iterator[ServeHost]:
    port = free_port()
    served = ServeHost(
        content_dir=folders[0],
        state_dir=tmp_path / "state",
        listen=(HOST, port),
        public_url=f"http://{HOST}:{port}",
        link_ttl=timedelta(hours=1),
    )
    served.start()
    yield served
    served.stop()


def _swap_folder(content: Path, outside: Path) -> Callable[[], None]:
    """`content/album` becomes a symlink to `outside/album` and back (each step a rename)."""
    album, parked, link = content / "album", content / ".parked", content / ".link"

    def once() -> None:
        os.rename(album, parked)
        os.symlink(outside / "album", link)
        os.rename(link, album)
        os.rename(album, link)
        os.unlink(link)
        os.rename(parked, album)

    return once


def _swap_file(content: Path, outside: Path) -> Callable[[], None]:
    """`content/photo.jpg` is replaced by the outside file (renamed in), then by a symlink
    to it, then put back: the inode the link was signed for comes back each time."""
    photo, parked, link = content / "photo.jpg", content / ".parked.jpg", content / ".link"
    secret = outside / "photo.jpg"

    def once() -> None:
        os.rename(photo, parked)
        os.rename(secret, photo)  # the rename trick: the outside file, now "inside"
        os.rename(photo, secret)
        os.symlink(secret, link)
        os.rename(link, photo)
        os.rename(parked, photo)

    return once


@pytest.mark.parametrize(
    ("media", "swap"), [("album/photo.jpg", _swap_folder), ("photo.jpg", _swap_file)]
)
def test_a_signed_link_never_serves_a_file_from_outside(
    host: ServeHost,
    folders: tuple[Path, Path],
    media: str,
    swap: Callable[[Path, Path], Callable[[], None]],
) -> None:
    content, outside = folders
    url = host.url_for(content / media)
    swap_once = swap(content, outside)
    stop = threading.Event()
    swaps = 0
    errors: list[BaseException] = []

    def attacker() -> None:
        nonlocal swaps
        try:
            while not stop.is_set():
                swap_once()
                swaps += 1
        except BaseException as exc:  # a broken swap would make the test prove nothing
            errors.append(exc)

    answers: Counter[str] = Counter()
    thread = threading.Thread(target=attacker, name="swapper", daemon=True)
    with httpx.Client(timeout=5, trust_env=False) as http:
        assert http.get(url).content == INSIDE  # the link works before the attack
        thread.start()
        wait_for(lambda: swaps > 0 or errors, timeout=5, what="the first swap")
        started = time.monotonic()
        while time.monotonic() < started + ATTACK_SECONDS or sum(answers.values()) < MIN_REQUESTS:
            assert time.monotonic() < started + 60, f"too slow: {dict(answers)}"
            try:
                response = http.get(url)
            except httpx.TransportError:  # the server failed mid-request
                answers["dropped"] += 1
                continue
            if response.status_code == 404:
                answers["404"] += 1
            elif response.status_code == 200 and response.content == INSIDE:
                answers["inside"] += 1
            elif response.status_code == 200 and response.content == OUTSIDE:
                answers["OUTSIDE"] += 1
            else:
                answers[f"{response.status_code} other"] += 1
        stop.set()
        thread.join(timeout=5)
        assert not errors, errors
        assert http.get(url).content == INSIDE  # the same file back: the link works again
    print(f"{media}: {sum(answers.values())} requests, {swaps} swaps: {dict(answers)}")
    assert answers["OUTSIDE"] == 0, dict(answers)
    assert answers["inside"] > 0 and answers["404"] > 0, dict(answers)  # both states were met
    assert set(answers) <= {"inside", "404"}, dict(answers)
