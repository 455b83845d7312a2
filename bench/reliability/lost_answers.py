"""Lost `media_publish` answers: the sandbox commits the post, then the answer is lost, N
times for each way it can be lost: an HTTP 500 with Meta's transient error body (code 2),
a dropped connection, and a read timeout (the answer comes after the client gave up).

Each draft is published in this process (`publish_draft`, as `publisher publish` does) on a
clock its sleeps move: the reconciliation's settle wait is counted (in the clock's seconds)
but takes no real time. For the timeout the client's read timeout is shortened to 0.3 s in
this process to 2 s and the sandbox answers after 4 s (the code's 30 s would make 50 runs
take half an hour; the path through the code is the same: httpx.ReadTimeout on
media_publish). Five drafts go at a time, each on its own site."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.reliability.common import Row, post_draft, posts_per_caption, site, workdir
from publisher.commands.publish import publish_draft
from publisher.config import Config
from publisher.errors import PublisherError
from publisher.instagram import session
from publisher.job import State
from tests.support.clock import SleepClock
from tests.support.processes import SandboxProcess

WORKERS = 5
# The client's read timeout in this process for the timeout runs, and the sandbox answers
# media_publish after twice that. Long enough that the other calls (container creation,
# where the sandbox fetches the media) do not time out on a loaded machine.
READ_TIMEOUT_S = 2.0

WAYS = {
    "500": "HTTP 500, Meta's transient error (code 2), after the post was made",
    "drop": "connection dropped after the post was made",
    "timeout": "answer after the client's read timeout",
}


@contextmanager
def short_read_timeout(seconds: float) -> Iterator[None]:
    original = session.timeouts
    session.timeouts = lambda: httpx.Timeout(connect=5.0, read=seconds, write=30.0, pool=5.0)
    try:
        yield
    finally:
        session.timeouts = original


def run(quick: bool) -> list[Row]:
    repeats = 5 if quick else 50
    rows = []
    with workdir("lost") as root:
        sandbox = SandboxProcess(root / "sandbox.json", log=root / "sandbox.log")
        try:
            for way in WAYS:
                rows.append(_one_way(root / way, sandbox, way, repeats))
        finally:
            sandbox.stop()
    return rows


def _one_way(root: Path, sandbox: SandboxProcess, way: str, repeats: int) -> Row:
    """`repeats` drafts, WORKERS at a time (one site each: publish holds its state_dir);
    every media_publish answer meanwhile is lost the same way."""
    started = time.monotonic()
    if way == "timeout":
        sandbox.faults(publish_delay_s=READ_TIMEOUT_S * 2, lose_publish_responses=0)
    else:
        sandbox.faults(publish_delay_s=0, lose_publish_responses=repeats, lose_publish_with=way)
    sites = [site(root / f"site-{n}", sandbox.url) for n in range(WORKERS)]
    wanted = {
        f"lost-{n:02}.yaml": f"Answer lost by {way}, run {n} #reliability" for n in range(repeats)
    }
    jobs = [(sites[n % WORKERS], name) for n, name in enumerate(wanted)]
    results: dict[str, tuple[str, float]] = {}

    def one(config: Config, name: str) -> None:
        path = post_draft(config, name, wanted[name])
        fake = SleepClock()
        try:
            job = publish_draft(
                config, path, progress=lambda _line: None, clock=fake, sleep=fake.sleep
            )
            results[name] = (job.state.value, sum(fake.slept))
        except PublisherError as exc:
            results[name] = (f"error: {exc}", sum(fake.slept))

    def in_turn(mine: list[tuple[Config, str]]) -> None:
        for config, name in mine:
            one(config, name)

    with short_read_timeout(READ_TIMEOUT_S if way == "timeout" else 30.0):
        # each site's drafts one after the other; the sites side by side
        threads = [
            threading.Thread(target=in_turn, args=(jobs[index::WORKERS],))
            for index in range(WORKERS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    sandbox.faults(publish_delay_s=0, lose_publish_responses=0)
    counts = posts_per_caption(sandbox.posts(), wanted)
    duplicates = sum(count - 1 for count in counts.values() if count > 1)
    missing = [name for name, count in counts.items() if count == 0]
    not_published = {
        name: state for name, (state, _w) in results.items() if state != State.PUBLISHED.value
    }
    waited = [slept for _state, slept in results.values()] or [0.0]
    passed = duplicates == 0 and not missing and not not_published
    return Row(
        key="lost_answers",
        scenario=f"lost media_publish answer: {way}",
        done=f"{repeats} drafts ({WORKERS} at a time), each with its answer lost: {WAYS[way]} "
        f"({time.monotonic() - started:.0f} s)",
        figure=f"duplicates {duplicates}, no post {len(missing)}, not recorded published "
        f"{len(not_published)}; time slept (polls, settle wait) median "
        f"{statistics.median(waited):.0f} s on the clock, not real time",
        goal="0 duplicates, each published once and recorded so",
        passed=passed,
        notes=[f"{name}: {state}" for name, state in list(not_published.items())[:3]]
        + [f"{name}: no post" for name in missing[:3]],
    )
