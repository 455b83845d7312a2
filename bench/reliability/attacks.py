"""Attacks from inside content_dir (anyone who may write a draft): symlinked drafts and
media that lead outside, and a media file swapped for a link after it was validated.

Symlinks: each kind of link below is put in content_dir, `publisher validate` and
`publisher publish <draft>` are run on it, and `publisher run` runs with all of them due.
Counted: bytes changed in files outside content_dir, and posts made from them.

Swap: the media server (`media.host: serve`, in this process) signs a link to a real image;
one thread swaps the file for a symlink to a secret outside content_dir and back as fast
as it can while another fetches the signed link. Counted: responses that carried the
secret's bytes (and how many bytes)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import httpx

from bench.reliability.common import Row, posts_per_caption, publisher_command, workdir
from publisher.clock import system_clock
from publisher.config import Config
from publisher.hosting import mediahost
from tests.support.paths import REPO
from tests.support.processes import DaemonProcess, SandboxProcess
from tests.support.site import load_config, make_site

SWAP_SECONDS = 4.0


def run(quick: bool) -> list[Row]:
    return [_symlinks(quick), _swap(quick)]


def _outside_draft(path: Path, caption: str) -> None:
    path.write_text(f"type: post\ncaption: {json.dumps(caption)}\nmedia: [sunrise.jpg]\n")


def _plant(config: Config, outside: Path) -> dict[str, str]:
    """Put the links in; return draft name -> the caption it would post if read."""
    content = config.content_dir
    outside.mkdir()
    (outside / "dir").mkdir()
    captions = {}
    for number in range(1, 6):
        _outside_draft(outside / f"draft{number}.yaml", f"OUTSIDE draft {number}")
    shutil.copyfile("/etc/passwd", outside / "passwd-copy")
    shutil.copyfile(REPO / "content" / "sunrise.jpg", outside / "secret.jpg")
    (outside / "secret.jpg").write_bytes((outside / "secret.jpg").read_bytes() + b"SECRET")
    (content / "abs.yaml").symlink_to(outside / "draft1.yaml")
    captions["abs.yaml"] = "OUTSIDE draft 1"
    (content / "rel.yaml").symlink_to(os.path.relpath(outside / "draft2.yaml", content))
    captions["rel.yaml"] = "OUTSIDE draft 2"
    _outside_draft(outside / "dir" / "draft3.yaml", "OUTSIDE draft 3")
    (content / "sub").symlink_to(outside / "dir", target_is_directory=True)
    captions["sub/draft3.yaml"] = "OUTSIDE draft 3"
    (content / "pw.yaml").symlink_to(outside / "passwd-copy")
    captions["pw.yaml"] = "root:x:0:0"
    (content / "inner.yaml").symlink_to(outside / "draft5.yaml")
    (content / "chain.yaml").symlink_to(content / "inner.yaml")
    captions["chain.yaml"] = "OUTSIDE draft 5"
    (content / "evil.jpg").symlink_to(outside / "secret.jpg")
    (content / "media.yaml").write_text(
        'type: post\ncaption: "INSIDE draft, OUTSIDE media"\nmedia: [evil.jpg]\n'
    )
    captions["media.yaml"] = "INSIDE draft, OUTSIDE media"
    return captions


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _symlinks(quick: bool) -> Row:
    with workdir("links") as root:
        sandbox = SandboxProcess(root / "sandbox.json", log=root / "sandbox.log")
        try:
            config = load_config(
                make_site(
                    root / "site",
                    account={"base_url": sandbox.url},
                    publishing={"poll_interval": "0s"},
                )
            )
            outside = root / "outside"
            captions = _plant(config, outside)
            before = _digests(outside)
            validate = publisher_command(config, "validate")
            tracebacks = int("Traceback" in validate.stderr + validate.stdout)
            refused = 0
            for name in captions:
                result = publisher_command(config, "publish", str(config.content_dir / name))
                refused += result.returncode != 0
                tracebacks += "Traceback" in result.stderr + result.stdout
            daemon = DaemonProcess(
                [sys.executable, "-m", "publisher", "-c", str(config.config_path), "run"],
                cwd=config.config_path.parent,
                log=root / "daemon.log",
            )
            try:
                daemon.wait_ready(60)
                time.sleep(6)  # every draft is due now: time to publish what it would
            finally:
                daemon.stop()
            after = _digests(outside)
            changed = [path for path in before if after.get(path) != before[path]]
            posts = posts_per_caption(sandbox.posts(), captions)
            outside_posts = sum(posts.values())
        finally:
            sandbox.stop()
    passed = not changed and outside_posts == 0 and refused == len(captions) and not tracebacks
    return Row(
        key="attacks",
        scenario="symlinked drafts and media leading outside",
        done=f"{len(captions)} links (absolute, relative, folder, chained, to a non-YAML file, "
        "a media link): `validate`, `publish` each, then `run` with all due",
        figure=f"outside files changed {len(changed)}, posts made from outside {outside_posts}, "
        f"publish refused {refused}/{len(captions)}, tracebacks {tracebacks}",
        goal="0 changed, 0 posts, every publish refused with a sentence",
        passed=passed,
        notes=[f"changed: {path}" for path in changed[:3]]
        + [f"posted: {name}" for name, count in posts.items() if count][:3],
    )


def _swap(quick: bool) -> Row:
    seconds = 1.0 if quick else SWAP_SECONDS
    results = {mode: _swap_once(mode, seconds) for mode in ("file", "folder")}
    leaked = sum(result[1] for result in results.values())
    return Row(
        key="attacks",
        scenario="media swapped for a link after signing",
        done="one signed link fetched while a thread swaps, as fast as it can, "
        + " and ".join(
            f"the {mode} for a symlink to a secret outside ({result[0]} fetches, {result[3]} swaps)"
            for mode, result in results.items()
        )
        + f" ({seconds:.0f} s each)",
        figure="; ".join(
            f"{mode}: answers with outside bytes {result[1]} ({result[2]} bytes)"
            for mode, result in results.items()
        ),
        goal="0 outside bytes served",
        passed=leaked == 0 and all(result[0] > 0 for result in results.values()),
    )


def _swap_once(mode: str, seconds: float) -> tuple[int, int, int, int]:
    """Fetch a signed link while `mode` ("file": the image itself, "folder": the folder it
    is in) is swapped for a symlink to outside and back; return (fetches, answers that
    carried outside bytes, outside bytes served, swaps)."""
    with workdir("swap") as root:
        config = load_config(make_site(root / "site"))
        outside = root / "outside"
        outside.mkdir()
        secret = b"SECRET-OUTSIDE-" * 4000
        (outside / "pic.jpg").write_bytes(secret)
        album = config.content_dir / "album"
        album.mkdir()
        image = album / "pic.jpg"
        shutil.copyfile(config.content_dir / "sunrise.jpg", image)
        host = mediahost.make(config, clock=system_clock)
        host.start()
        url = host.url_for(image)
        stop = threading.Event()
        swaps = 0

        def swap_file() -> None:
            nonlocal swaps
            link, keep = album / ".swap-link", album / ".swap-keep"
            os.link(image, keep)
            while not stop.is_set():
                link.unlink(missing_ok=True)
                link.symlink_to(outside / "pic.jpg")
                os.replace(link, image)  # the image is now a link to the secret
                os.link(keep, link)
                os.replace(link, image)  # and the genuine image again
                swaps += 1

        def swap_folder() -> None:
            nonlocal swaps
            real, link = config.content_dir / ".album-real", config.content_dir / ".album-link"
            while not stop.is_set():
                os.rename(album, real)
                link.symlink_to(outside, target_is_directory=True)
                os.rename(link, album)  # album/ now leads outside
                os.unlink(album)
                os.rename(real, album)  # and back
                swaps += 1

        thread = threading.Thread(target=swap_file if mode == "file" else swap_folder, daemon=True)
        fetches = leaked = leaked_bytes = 0
        try:
            thread.start()
            deadline = time.monotonic() + seconds
            with httpx.Client(timeout=5) as client:
                while time.monotonic() < deadline:
                    try:
                        answer = client.get(url)
                    except httpx.HTTPError:
                        continue
                    fetches += 1
                    if b"SECRET-OUTSIDE-" in answer.content:
                        leaked += 1
                        leaked_bytes += answer.content.count(b"SECRET-OUTSIDE-") * 15
        finally:
            stop.set()
            thread.join(5)
            host.stop()
    return fetches, leaked, leaked_bytes, swaps
