"""The media host: signed links over real loopback HTTP, Range, HEAD, 404s, the key, make()."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path

import httpx
import pytest

from publisher import config
from publisher.errors import StoreCorrupt
from publisher.hosting import mediahost
from publisher.hosting.mediahost import BaseUrlHost, ServeHost, byte_range, links
from tests.support.clock import ManualClock
from tests.support.wait import wait_for

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
TTL = timedelta(hours=2)
FILES = {
    "photo.jpg": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40,
    "photo.JPEG": b"\xff\xd8\xff\xe0 upper-case suffix",
    "clip.mp4": b"\x00\x00\x00\x20ftypisom" + b"\x01" * 5000,
    "clip.mov": b"\x00\x00\x00\x14ftypqt  " + b"\x02" * 100,
    "notes.txt": b"not media",
    "sub/dir/été à.jpg": b"\xff\xd8\xff accents and a space",
}


@pytest.fixture
def content(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    for name, data in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def host(content: Path, tmp_path: Path, clock: ManualClock) -> Iterator[ServeHost]:
    served = ServeHost(
        content_dir=content,
        state_dir=tmp_path / "state",
        listen=("127.0.0.1", 0),
        public_url="http://127.0.0.1:0",
        link_ttl=TTL,
        clock=clock,
    )
    served.start()
    yield served
    served.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5, trust_env=False) as client:
        yield client


def raw_get(port: int, path: str) -> int:
    """GET `path` exactly as written (httpx would normalise `..` away); return the status."""
    connection = HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def _link_parts(url: str) -> tuple[str, str, str, str, str]:
    """(base, expires, binding, signature, relpath) of a content link."""
    match = re.fullmatch(
        r"(http://127\.0\.0\.1:\d+)/m/(\d+)/([0-9a-f.]+[A-Za-z0-9_-]{43})/([A-Za-z0-9_-]+)/(.+)",
        url,
    )
    assert match, url
    base, expires, binding, signature, relpath = match.groups()
    return base, expires, binding, signature, relpath


def _forged(tmp_path: Path, expires: int, binding: str, relpath: str) -> str:
    """A link signed with the host's own key, for a path of the test's choosing."""
    key = (tmp_path / "state" / "media.key").read_bytes()
    return links.path_of(key, "m", expires, binding, relpath)


# --- links ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("photo.jpg", "image/jpeg"),
        ("photo.JPEG", "image/jpeg"),
        ("clip.mp4", "video/mp4"),
        ("clip.mov", "video/quicktime"),
        ("sub/dir/été à.jpg", "image/jpeg"),
    ],
)
def test_a_signed_link_serves_exactly_the_file(
    host: ServeHost, content: Path, http: httpx.Client, name: str, content_type: str
) -> None:
    url = host.url_for(content / name)
    assert url.isascii() and " " not in url
    base, expires, _, _, _ = _link_parts(url)
    assert base == f"http://127.0.0.1:{host.port}"
    assert int(expires) == int((T0 + TTL).timestamp())
    response = http.get(url)
    assert response.status_code == 200
    assert response.content == FILES[name]
    assert response.headers["content-type"] == content_type
    assert response.headers["content-length"] == str(len(FILES[name]))
    assert response.headers["accept-ranges"] == "bytes"
    assert "set-cookie" not in response.headers


def test_a_relative_path_is_relative_to_the_content_folder(host: ServeHost, content: Path) -> None:
    assert host.url_for(Path("clip.mp4")) == host.url_for(content / "clip.mp4")


def test_the_signature_covers_expiry_binding_and_path(
    host: ServeHost, content: Path, tmp_path: Path
) -> None:
    url = host.url_for(content / "photo.jpg")
    _, expires, binding, signature, relpath = _link_parts(url)
    key = (tmp_path / "state" / "media.key").read_bytes()
    assert signature == links.sign(key, int(expires), binding, relpath)
    assert signature != links.sign(key, int(expires) + 1, binding, relpath)
    assert signature != links.sign(key, int(expires), binding.replace(".", ".0", 1), relpath)


def _tampered(url: str, how: str, content: Path, host: ServeHost) -> str:
    base, expires, binding, signature, relpath = _link_parts(url)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    _, _, other_binding, _, other = _link_parts(host.url_for(content / "clip.mp4"))
    return {
        "signature": f"{base}/m/{expires}/{binding}/{flipped}/{relpath}",
        "expiry pushed later": f"{base}/m/{int(expires) + 3600}/{binding}/{signature}/{relpath}",
        "another file, same signature": f"{base}/m/{expires}/{binding}/{signature}/{other}",
        "another binding": f"{base}/m/{expires}/{other_binding}/{signature}/{relpath}",
        "no binding": f"{base}/m/{expires}/{signature}/{relpath}",
        "no signature": f"{base}/m/{expires}/{binding}/{relpath}",
        "prefix": f"{base}/x/{expires}/{binding}/{signature}/{relpath}",
        "root": f"{base}/",
        "bare prefix": f"{base}/m/",
    }[how]


@pytest.mark.parametrize(
    "how",
    [
        "signature",
        "expiry pushed later",
        "another file, same signature",
        "another binding",
        "no binding",
        "no signature",
        "prefix",
        "root",
        "bare prefix",
    ],
)
def test_a_tampered_link_is_a_plain_404(
    host: ServeHost, content: Path, http: httpx.Client, how: str
) -> None:
    good = host.url_for(content / "photo.jpg")
    response = http.get(_tampered(good, how, content, host))
    assert response.status_code == 404
    assert response.content == b"not found\n"  # the same body whatever the reason
    assert http.get(good).status_code == 200


def test_a_link_works_until_it_expires(
    host: ServeHost, content: Path, http: httpx.Client, clock: ManualClock
) -> None:
    url = host.url_for(content / "photo.jpg")
    clock.now = T0 + TTL
    assert http.get(url).status_code == 200
    clock.now = T0 + TTL + timedelta(seconds=1)
    response = http.get(url)
    assert response.status_code == 404
    assert response.content == b"not found\n"


def test_a_link_to_a_file_that_is_gone_is_404(
    host: ServeHost, content: Path, http: httpx.Client
) -> None:
    url = host.url_for(content / "notes.txt")
    (content / "notes.txt").unlink()
    assert http.get(url).status_code == 404


def test_a_signed_folder_is_not_listed(
    host: ServeHost, content: Path, http: httpx.Client, tmp_path: Path
) -> None:
    _, expires, binding, _, _ = _link_parts(host.url_for(content / "photo.jpg"))
    url = f"http://127.0.0.1:{host.port}{_forged(tmp_path, int(expires), binding, 'sub')}"
    assert http.get(url).status_code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_404(
    host: ServeHost, content: Path, http: httpx.Client, method: str
) -> None:
    response = http.request(method, host.url_for(content / "photo.jpg"))
    assert response.status_code == 404


def test_head_gives_the_headers_without_the_body(
    host: ServeHost, content: Path, http: httpx.Client
) -> None:
    response = http.head(host.url_for(content / "clip.mp4"))
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(FILES["clip.mp4"]))
    assert response.headers["content-type"] == "video/mp4"
    assert response.content == b""


# --- paths that leave the content folder ------------------------------------------------------


def test_url_for_refuses_paths_outside_the_content_folder(
    host: ServeHost, content: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"\xff\xd8\xff private")
    (content / "escape.jpg").symlink_to(secret)
    for path in (secret, content / ".." / "secret.jpg", content / "escape.jpg", content):
        with pytest.raises(ValueError, match="content folder"):
            host.url_for(path)


def test_a_symlink_that_leaves_the_folder_is_not_served(
    host: ServeHost, content: Path, http: httpx.Client, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"\xff\xd8\xff private")
    url = host.url_for(content / "photo.jpg")
    # The file is swapped for a symlink to outside after its link was given out.
    (content / "photo.jpg").unlink()
    (content / "photo.jpg").symlink_to(secret)
    assert http.get(url).status_code == 404
    # A link signed by hand for a traversal path is refused too.
    _, expires, binding, _, _ = _link_parts(host.url_for(content / "clip.mp4"))
    forged = _forged(tmp_path, int(expires), binding, "../secret.jpg")
    assert raw_get(host.port, forged) == 404
    assert raw_get(host.port, forged.replace("../", "..%2F")) == 404
    # ... while the same hand-signed form reaches a file inside the folder (the key is right).
    assert raw_get(host.port, _forged(tmp_path, int(expires), binding, "clip.mp4")) == 200


def test_a_symlink_inside_the_folder_is_served(
    host: ServeHost, content: Path, http: httpx.Client
) -> None:
    (content / "alias.jpg").symlink_to(content / "photo.jpg")
    response = http.get(host.url_for(content / "alias.jpg"))
    assert response.status_code == 200
    assert response.content == FILES["photo.jpg"]


# --- Range ------------------------------------------------------------------------------------

SIZE = len(FILES["clip.mp4"])


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=100-", 100, SIZE - 1),
        ("bytes=-16", SIZE - 16, SIZE - 1),
        ("bytes=0-65535", 0, SIZE - 1),  # Meta's probe of a file smaller than it asks for
        ("bytes=-999999", 0, SIZE - 1),
        (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1),
    ],
)
def test_a_single_range_is_206(
    host: ServeHost, content: Path, http: httpx.Client, header: str, first: int, last: int
) -> None:
    response = http.get(host.url_for(content / "clip.mp4"), headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {first}-{last}/{SIZE}"
    assert response.headers["content-length"] == str(last - first + 1)
    assert response.content == FILES["clip.mp4"][first : last + 1]


@pytest.mark.parametrize(
    "header", [f"bytes={SIZE}-", "bytes=10-5", "bytes=-0", "bytes=abc", "items=0-1", "bytes=-"]
)
def test_a_bad_range_is_416(
    host: ServeHost, content: Path, http: httpx.Client, header: str
) -> None:
    response = http.get(host.url_for(content / "clip.mp4"), headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"


def test_several_ranges_get_the_whole_file(
    host: ServeHost, content: Path, http: httpx.Client
) -> None:
    response = http.get(host.url_for(content / "clip.mp4"), headers={"Range": "bytes=0-1,5-6"})
    assert response.status_code == 200
    assert response.content == FILES["clip.mp4"]


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("", 10, None),
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=2-100", 10, (2, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=0-1, 3-4", 10, None),
        ("bytes=0-", 0, ValueError),
        ("bytes=-1", 0, ValueError),
        ("bytes=9-", 10, (9, 9)),
        ("bytes=10-", 10, ValueError),
        ("bytes=3-2", 10, ValueError),
        ("bytes=1-2-3", 10, ValueError),
    ],
)
def test_byte_range(
    header: str | None, size: int, expected: tuple[int, int] | None | type[Exception]
) -> None:
    if isinstance(expected, type):
        with pytest.raises(expected):
            byte_range(header, size)
    else:
        assert byte_range(header, size) == expected


def test_a_large_file_streams_whole(host: ServeHost, content: Path, http: httpx.Client) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    (content / "big.mp4").write_bytes(data)
    with http.stream("GET", host.url_for(content / "big.mp4")) as response:
        digest = hashlib.sha256()
        for chunk in response.iter_bytes():
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


# --- the key ----------------------------------------------------------------------------------


def test_the_key_is_made_once_private_and_reused(
    host: ServeHost, content: Path, tmp_path: Path, clock: ManualClock, http: httpx.Client
) -> None:
    key_path = tmp_path / "state" / "media.key"
    assert len(key_path.read_bytes()) == 32
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert not [p for p in key_path.parent.iterdir() if p.name != "media.key"]  # no temp left
    url = host.url_for(content / "photo.jpg")
    host.stop()
    restarted = ServeHost(
        content_dir=content,
        state_dir=tmp_path / "state",
        listen=("127.0.0.1", 0),
        public_url="http://127.0.0.1:0",
        link_ttl=TTL,
        clock=clock,
    )
    restarted.start()
    try:
        relink = url.replace(_link_parts(url)[0], f"http://127.0.0.1:{restarted.port}")
        assert http.get(relink).status_code == 200  # links survive a restart
    finally:
        restarted.stop()


def test_a_damaged_key_is_refused(tmp_path: Path, content: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "media.key").write_bytes(b"short")
    with pytest.raises(StoreCorrupt, match="media.key"):
        ServeHost(
            content_dir=content,
            state_dir=state,
            listen=("127.0.0.1", 0),
            public_url="http://127.0.0.1:0",
            link_ttl=TTL,
        )
    assert (state / "media.key").read_bytes() == b"short"  # kept for the user to look at


def test_public_url_is_used_as_given(tmp_path: Path, content: Path) -> None:
    served = ServeHost(
        content_dir=content,
        state_dir=tmp_path / "state",
        listen=("127.0.0.1", 0),
        public_url="https://media.example.org/ig/",
        link_ttl=TTL,
    )
    assert served.url_for(content / "clip.mp4").startswith("https://media.example.org/ig/m/")


# --- base_url and make() ----------------------------------------------------------------------


def test_base_url_host(content: Path, tmp_path: Path) -> None:
    mirror = BaseUrlHost(content_dir=content, public_url="https://cdn.example.org/media/")
    mirror.start()
    assert (
        mirror.url_for(content / "sub/dir/été à.jpg")
        == "https://cdn.example.org/media/sub/dir/%C3%A9t%C3%A9%20%C3%A0.jpg"
    )
    with pytest.raises(ValueError, match="content folder"):
        mirror.url_for(tmp_path / "elsewhere.jpg")
    mirror.stop()


def _config(tmp_path: Path, host: str) -> config.Config:
    path = tmp_path / "config.yaml"
    path.write_text(
        "accounts:\n  main:\n    ig_user_id: '17841400000000000'\n"
        f"media:\n  host: {host}\n  listen: 127.0.0.1:0\n"
        "  public_url: http://127.0.0.1:0\n  link_ttl: 30m\n",
        encoding="utf-8",
    )
    (tmp_path / "content").mkdir(exist_ok=True)
    return config.load(path, environ={})


@pytest.mark.parametrize(("host", "kind"), [("serve", ServeHost), ("base_url", BaseUrlHost)])
def test_make_builds_the_configured_host(tmp_path: Path, host: str, kind: type) -> None:
    made = mediahost.make(_config(tmp_path, host), clock=lambda: T0)
    assert isinstance(made, kind)


def test_serve_and_base_url_link_to_the_files_where_they_are(
    host: ServeHost, content: Path, http: httpx.Client
) -> None:
    """The job a link is for changes nothing, and a job's end deletes nothing."""
    mirror = BaseUrlHost(content_dir=content, public_url="https://cdn.example.org")
    for made in (host, mirror):
        url = made.url_for(content / "photo.jpg", job_id="6f1c0a9e")
        assert url == made.url_for(content / "photo.jpg")
        made.release("6f1c0a9e")
        made.sweep(set())
        assert (content / "photo.jpg").read_bytes() == FILES["photo.jpg"]
    assert http.get(host.url_for(content / "photo.jpg", job_id="6f1c0a9e")).status_code == 200


def test_requests_are_logged_without_the_signature(
    host: ServeHost, content: Path, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="publisher.hosting.mediahost")
    url = host.url_for(content / "photo.jpg")
    http.get(url)
    signature = _link_parts(url)[3]

    def lines() -> list[str]:
        return [record.getMessage() for record in caplog.records]

    # The server thread logs after the answer is out: wait for the line, with a deadline.
    wait_for(
        lambda: any("GET photo.jpg 200" in line for line in lines()), timeout=5, what="the log line"
    )
    assert not any(signature in line for line in lines())


# --- converted copies (state_dir/cache) -----------------------------------------------------


def _cached(tmp_path: Path, name: str = "ab12.feed.none.r1.jpg") -> Path:
    cache = tmp_path / "state" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / name).write_bytes(b"\xff\xd8\xff converted copy")
    return cache / name


def test_a_converted_copy_in_the_cache_is_served(
    host: ServeHost, tmp_path: Path, http: httpx.Client, clock: ManualClock
) -> None:
    copy = _cached(tmp_path)
    url = host.url_for(copy)
    assert re.fullmatch(
        rf"http://127\.0\.0\.1:{host.port}/c/\d+/[0-9a-f.]+-\.[A-Za-z0-9_-]{{43}}/"
        rf"[A-Za-z0-9_-]+/{re.escape(copy.name)}",
        url,
    )
    response = http.get(url)
    assert response.status_code == 200
    assert response.content == copy.read_bytes()
    assert response.headers["content-type"] == "image/jpeg"
    clock.advance(TTL + timedelta(seconds=1))
    assert http.get(url).status_code == 404


def test_a_cache_link_opens_nothing_else(
    host: ServeHost, content: Path, tmp_path: Path, http: httpx.Client
) -> None:
    copy = _cached(tmp_path, "photo.jpg")  # the same name as a file in content_dir
    url = host.url_for(copy)
    as_content = url.replace("/c/", "/m/")
    assert http.get(as_content).status_code == 404
    prefix = url.rsplit("/", 1)[0]
    for other in ("..%2Fmedia.key", "../media.key", "sub%2Fphoto.jpg", "%2E%2E"):
        assert raw_get(host.port, prefix.split(str(host.port), 1)[1] + "/" + other) == 404
    # a content link's signature does not open a cache file of the same name
    content_url = host.url_for(content / "photo.jpg")
    assert http.get(content_url.replace("/m/", "/c/")).status_code == 404


def test_url_for_refuses_the_rest_of_state_dir(host: ServeHost, tmp_path: Path) -> None:
    nested = _cached(tmp_path).parent / "sub"
    nested.mkdir()
    (nested / "x.jpg").write_bytes(b"\xff\xd8\xff")
    for path in (tmp_path / "state" / "media.key", nested / "x.jpg"):
        with pytest.raises(ValueError, match="content folder"):
            host.url_for(path)
