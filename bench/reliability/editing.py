"""The editing race: a user saves a draft again and again while `publisher run` writes its
status block back into it. Each save drops the block (as an editor holding an old copy
would), so the daemon writes it back after nearly every save, and the two race.

Saves alternate between the two ways editors write: a new file renamed over the draft,
and the draft rewritten in place. Before each save and at the end the user bytes in the
file must be the last save's: a write-back built on older bytes than the user's last save
would be a lost edit. Counted: saves, write-backs seen, edits lost."""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from bench.reliability.common import Row, now, workdir
from publisher.config import Config
from publisher.drafts import statusblock, writeback
from publisher.job import Job, State
from tests.support.processes import DaemonProcess, SandboxProcess
from tests.support.site import load_config, make_site
from tests.support.wait import wait_for

SECONDS = 20.0
HAMMER_SECONDS = 10.0


def _text(number: int, when: str) -> bytes:
    return (
        f"# edit {number}\ntype: post\ncaption: {json.dumps(f'Edit number {number}')}\n"
        f"media: [sunrise.jpg]\npublish_at: {when}\n"
    ).encode()


def _save(path: Path, data: bytes, in_place: bool) -> None:
    if in_place:
        with path.open("r+b") as out:
            out.truncate(0)
            out.write(data)
    else:
        temporary = path.with_name(".draft.yaml.swp")
        temporary.write_bytes(data)
        os.replace(temporary, path)


def run(quick: bool) -> list[Row]:
    return [_daemon_race(quick), _hammer(quick)]


def _daemon_race(quick: bool) -> Row:
    seconds = 5.0 if quick else SECONDS
    with workdir("editing") as root:
        sandbox = SandboxProcess(root / "sandbox.json", log=root / "sandbox.log")
        config = load_config(make_site(root / "site", account={"base_url": sandbox.url}))
        daemon = DaemonProcess(
            [sys.executable, "-m", "publisher", "-c", str(config.config_path), "run"],
            cwd=config.config_path.parent,
            log=root / "daemon.log",
        )
        randomness = random.Random(8)
        path = config.content_dir / "draft.yaml"
        when = (now() + timedelta(days=2)).replace(microsecond=0).isoformat()
        saves = write_backs = lost = 0
        last = _text(0, when)
        try:
            daemon.wait_ready(60)
            path.write_bytes(last)
            wait_for(lambda: statusblock.read(path.read_bytes()) is not None, timeout=30)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                data = path.read_bytes()
                user, block = statusblock.split(data)
                write_backs += bool(block)
                if user.rstrip(b"\r\n") != last.rstrip(b"\r\n") and data:
                    lost += 1
                saves += 1
                last = _text(saves, when)
                _save(path, last, in_place=saves % 2 == 1)
                # around the daemon's write-back: it reads a save after a 0.5 s quiet period
                time.sleep(randomness.uniform(0.6, 1.4))
            wait_for(lambda: statusblock.read(path.read_bytes()) is not None, timeout=30)
            final, _block = statusblock.split(path.read_bytes())
            lost += final.rstrip(b"\r\n") != last.rstrip(b"\r\n")
            alive = daemon.alive()
        finally:
            daemon.stop()
            sandbox.stop()
    passed = lost == 0 and write_backs >= saves // 3 and alive
    return Row(
        key="editing",
        scenario="editing race: `publisher run`",
        done=f"{saves} saves in {seconds:.0f} s, 0.6-1.4 s apart around the daemon's "
        "write-back (renamed over and in place, each without the block)",
        figure=f"edits lost {lost}; write-backs seen before a save {write_backs}",
        goal="0 edits lost",
        passed=passed,
        notes=[] if alive else ["the daemon exited"],
    )


def _hammer(quick: bool) -> Row:
    """The write-back itself (drafts.writeback.write, what every part of publisher writes
    through) in a loop in one thread, saves as fast as they go in another."""
    seconds = 2.0 if quick else HAMMER_SECONDS
    with workdir("hammer") as root:
        config: Config = load_config(make_site(root / "site"))
        path = config.content_dir / "draft.yaml"
        when = (now() + timedelta(days=2)).replace(microsecond=0).isoformat()
        last = _text(0, when)
        path.write_bytes(last)
        stop = threading.Event()
        write_backs = 0

        def write_back() -> None:
            nonlocal write_backs
            attempt = 0
            while not stop.is_set():
                attempt += 1
                job = Job(
                    draft="draft.yaml",
                    account="main",
                    state=State.SCHEDULED,
                    scheduled_for=now() + timedelta(days=2),
                    attempts=attempt % 7,
                )
                writeback.write(config, job)
                write_backs += 1

        thread = threading.Thread(target=write_back, daemon=True)
        thread.start()
        saves = lost = glimpsed = 0
        notes: list[str] = []
        deadline = time.monotonic() + seconds

        def holds_last() -> bool:
            user, _block = statusblock.split(path.read_bytes())
            return user.rstrip(b"\r\n") == last.rstrip(b"\r\n")

        try:
            while time.monotonic() < deadline:
                if not holds_last():
                    # Lost, or seen in the instant between the write-back's exchange and
                    # the exchange back that returns a save which slipped in: look again.
                    time.sleep(0.05)
                    if holds_last():
                        glimpsed += 1
                        notes.append(f"save {saves}: the save before it seen for an instant")
                    else:
                        lost += 1
                        user, _block = statusblock.split(path.read_bytes())
                        shown = user.split(b"\n", 1)[0].decode(errors="replace")
                        notes.append(f"save {saves} was lost: the file read back {shown!r}")
                saves += 1
                last = _text(saves, when)
                temporary = path.with_name(".draft.yaml.swp")
                temporary.write_bytes(last)
                os.replace(temporary, path)
        finally:
            stop.set()
            thread.join(10)
        user, _block = statusblock.split(path.read_bytes())
        lost += user.rstrip(b"\r\n") != last.rstrip(b"\r\n")
    return Row(
        key="editing",
        scenario="editing race: the write-back in a loop",
        done=f"{saves} saves (renamed over) in {seconds:.0f} s while another thread ran "
        f"{write_backs} write-backs (drafts.writeback.write) on the same draft",
        figure=f"edits lost {lost}; the save before seen for an instant, then back {glimpsed}",
        goal="0 edits lost",
        passed=lost == 0 and saves > 100,
        notes=notes[:3],
    )
