"""Hostile drafts (tests/hostile/ plus files that cannot be committed: FIFOs, links, 10 MB).

Each one must come back from `drafts.load` quickly, as an invalid draft with an error that
says what is wrong, never as an exception (RELIABILITY.md §4.1-4.3, test C20).
"""

from __future__ import annotations

import io
import os
import resource
import shutil
import struct
import time
from pathlib import Path

import pytest
from PIL import Image

from publisher import config, drafts, yamlsafe
from publisher.config import Config
from tests.support.images import png_claiming
from tests.support.paths import HOSTILE as CORPUS

# file -> a part of one of its error lines (`field: message`)
EXPECTED = {
    "alias-bomb.yaml": "anchors and aliases",
    "merge-key-alias.yaml": "anchors and aliases",
    "python-object-apply.yaml": "tag 'tag:yaml.org,2002:python/object/apply:os.system'",
    "python-name.yaml": "is not allowed; remove it",
    "custom-tag.yaml": "tag '!include' is not allowed",
    "binary-tag.yaml": "tag 'tag:yaml.org,2002:binary' is not allowed",
    "non-utf8-latin1.yaml": "not UTF-8 text",
    "utf16.yaml": "not UTF-8 text",
    "nul-bytes.yaml": "NUL bytes",
    "nul-escape-in-media.yaml": "line 3: a NUL or invalid (surrogate) character",
    "surrogate-escape.yaml": "line 4: a NUL or invalid (surrogate) character",
    "deep-flow-list.yaml": "nested",
    "deep-flow-map.yaml": "nested",
    "deep-block-map.yaml": "nested more than 32 levels",
    "top-level-list.yaml": "must be a mapping of keys",
    "top-level-scalar.yaml": "must be a mapping of keys",
    "top-level-number.yaml": "not the value 42",
    "empty.yaml": "the file is empty",
    "comments-only.yaml": "the file is empty",
    "two-documents.yaml": "line 3: not valid YAML",
    "unclosed-bracket.yaml": "not valid YAML",
    "tab-indentation.yaml": "line 3: not valid YAML",
    "duplicate-type.yaml": "line 4: the key 'type' appears twice",
    "huge-integer.yaml": "the number has 5000 digits",
    "unhashable-key.yaml": "not valid YAML",
    "non-string-keys.yaml": "1: unknown key",
    "unknown-keys.yaml": "access_token: unknown key; allowed: type",
    "type-confusion.yaml": "type: 5 is not a draft type",
    "nan-and-inf.yaml": "user_tags[0].x: nan is outside 0 to 1",
    "publish-at-overflow.yaml": "publish_at: 9999-12-31T23:59-05:00 is not a plausible time",
    "publish-at-dst-gap.yaml": "publish_at: 2026-03-29 02:30 does not exist in Europe/Paris",
    "media-dotdot.yaml": "media[0]: '../../../../../etc/passwd' points outside content_dir",
    "media-dotdot-flow.yaml": "points outside content_dir",
    "media-absolute.yaml": "'/etc/shadow' is an absolute path",
    "media-home.yaml": "'~/.ssh/id_rsa' is an absolute path",
    "media-file-url.yaml": "only http(s):// URLs",
    "media-symlink-out.yaml": "'outside-link.jpg' is a symlink to",
    "media-symlink-loop.yaml": "'loop.jpg' is a symlink loop",
    "media-png-renamed.yaml": "'png-renamed.jpg' is a PNG image; Instagram takes JPEG only",
    "media-truncated-jpeg.yaml": "'truncated.jpg' is a truncated or damaged JPEG",
    "media-zero-bytes.yaml": "'zero.jpg' is empty (0 bytes)",
    "media-bomb-png.yaml": "'bomb-png.jpg' claims more pixels than any photo needs",
    "media-bomb-jpeg.yaml": "'bomb.jpg' claims more pixels than any photo needs",
    "media-fifo.yaml": "'fifo.jpg' is not a regular file",
    "media-folder.yaml": "'folder.jpg' is a folder",
    "media-video-named-jpg.yaml": "'video.jpg' is a video (MP4/MOV) with an image name",
    "media-long-name.yaml": "File name too long",
    "media-many-entries.yaml": "a carousel has 2 to 10 items, this has 5000",
    "cover-bomb.yaml": "cover: 'bomb.jpg' claims more pixels",
    # made by the test, not committed
    "caption-10mb.yaml": "the file is 10485781 bytes; a draft may be at most 262144 bytes",
    "just-over-cap.yaml": "a draft may be at most 262144 bytes",
    "folder.yaml": "is a folder, not a draft file",
    "broken-link.yaml": "is a symlink to nowhere.yaml, which does not exist",
    "fifo.yaml": "is not a regular file",
    "self-loop.yaml": "cannot be read: Too many levels of symbolic links",
    "link-to-draft.yaml": "is a link to alias-bomb.yaml, a draft itself",
}


def _jpeg(size: tuple[int, int], noise: bool = False) -> bytes:
    image = Image.effect_noise(size, 80).convert("RGB") if noise else Image.new("RGB", size)
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


def _hostile_media(content: Path) -> None:
    (content / "a.jpg").write_bytes(_jpeg((1080, 1080)))
    png = io.BytesIO()
    Image.new("RGB", (500, 500)).save(png, "PNG")
    (content / "png-renamed.jpg").write_bytes(png.getvalue())
    noisy = _jpeg((600, 600), noise=True)
    (content / "truncated.jpg").write_bytes(noisy[: len(noisy) // 2])
    (content / "zero.jpg").write_bytes(b"")
    (content / "bomb-png.jpg").write_bytes(png_claiming(100_000, 100_000))
    small = _jpeg((64, 64))
    sof = small.index(b"\xff\xc0")
    bomb = small[: sof + 5] + struct.pack(">HH", 65000, 65000) + small[sof + 9 :]
    (content / "bomb.jpg").write_bytes(bomb)
    os.mkfifo(content / "fifo.jpg")
    (content / "folder.jpg").mkdir()
    (content.parent / "secret.jpg").write_bytes(_jpeg((1080, 1080)))
    (content / "outside-link.jpg").symlink_to(Path("..") / "secret.jpg")
    (content / "loop.jpg").symlink_to("loop.jpg")
    (content / "video.jpg").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    (content / "a.mp4").write_bytes(b"not really a video")


def _generated_drafts(content: Path) -> None:
    with (content / "caption-10mb.yaml").open("wb") as handle:
        handle.write(b"caption: " + b"x" * (10 * 1024 * 1024) + b"\n" + b"type: post\n")
    (content / "just-over-cap.yaml").write_bytes(b"caption: " + b"x" * yamlsafe.MAX_BYTES)
    (content / "folder.yaml").mkdir()
    (content / "broken-link.yaml").symlink_to("nowhere.yaml")
    os.mkfifo(content / "fifo.yaml")
    (content / "self-loop.yaml").symlink_to("self-loop.yaml")
    (content / "link-to-draft.yaml").symlink_to("alias-bomb.yaml")


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Config:
    root = tmp_path_factory.mktemp("hostile")
    (root / "config.yaml").write_text(
        'timezone: Europe/Paris\naccounts:\n  main: {ig_user_id: "17841400000000000"}\n'
    )
    content = root / "content"
    content.mkdir()
    for draft in CORPUS.glob("*.yaml"):
        shutil.copyfile(draft, content / draft.name)
    _hostile_media(content)
    _generated_drafts(content)
    return config.load(root / "config.yaml", environ={})


def test_the_corpus_is_complete() -> None:
    committed = sorted(p.name for p in CORPUS.glob("*.yaml"))
    assert len(committed) >= 30
    assert set(committed) <= set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_draft_is_invalid_quickly(hostile_site: Config, name: str) -> None:
    path = hostile_site.content_dir / name
    started = time.thread_time()  # CPU time: our work, whatever else the machine runs
    loaded = drafts.load(path, hostile_site)
    elapsed = time.thread_time() - started
    assert elapsed < 1.0, f"{name} took {elapsed:.2f} s"
    assert loaded.draft is None
    lines = [str(problem) for problem in loaded.errors]
    assert lines, loaded.problems
    assert any(EXPECTED[name] in line for line in lines), lines
    for line in [str(problem) for problem in loaded.problems]:
        line.encode("utf-8")  # printable: no lone surrogates reach the user
        assert len(line) < 1000  # hostile values are never echoed whole
    assert len(loaded.fingerprint) == 64


def test_discover_then_load_everything(hostile_site: Config) -> None:
    """The daemon's path: discover the folder (FIFOs and broken links included) and load
    every file, with bounded memory."""
    found = drafts.discover(hostile_site.content_dir)
    names = {path.name for path in found}
    assert names == set(EXPECTED) - {"folder.yaml"}  # a folder is walked into, not listed
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    results = [drafts.load(path, hostile_site) for path in found]
    elapsed = time.perf_counter() - started
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert all(result.draft is None and result.errors for result in results)
    assert elapsed < 5.0
    assert growth_mb < 50
