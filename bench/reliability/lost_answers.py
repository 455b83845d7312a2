"""Lost `media_publish` answers: the sandbox commits the post, then the answer is lost, N
times for each way it can be lost: an HTTP 500 with Meta's transient error body (code 2),
a dropped connection, and a read timeout (the answer comes after the client gave up).

Each draft is published in this process (`publish_draft`, as `publisher publish` does) on a
clock its sleeps move: the reconciliation's settle wait is counted (in the clock's seconds)
but takes no real time. For the timeout the client's read timeout is shortened to 0.3 s in
this process and the sandbox answers after 1 s (the code's 30 s would make 50 runs take 25
minutes; the path through the code is the same: httpx.ReadTimeout on media_publish)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from bench.reliability.common import Row, post_draft, posts_per_caption, site, workdir
from publisher.commands.publish import publish_draft
from publisher.errors import PublisherError
from publisher.instagram import session
from publisher.job import State
from tests.support.clock import SleepClock
from tests.support.processes import SandboxProcess

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
                rows.append(_one_way(root, sandbox, way, repeats))
        finally:
            sandbox.stop()
    return rows


def _one_way(root: object, sandbox: SandboxProcess, way: str, repeats: int) -> Row:
    started = time.monotonic()
    config = site(root / way, sandbox.url)  # type: ignore[operator]
    wanted: dict[str, str] = {}
    states: dict[str, str] = {}
    waited: list[float] = []
    for number in range(repeats):
        name = f"lost-{number:02}.yaml"
        wanted[name] = f"Answer lost by {way}, run {number} #reliability"
        path = post_draft(config, name, wanted[name])
        if way == "timeout":
            sandbox.faults(publish_delay_s=1.0, lose_publish_responses=0)
        else:
            sandbox.faults(publish_delay_s=0, lose_publish_responses=1, lose_publish_with=way)
        fake = SleepClock()
        try:
            with short_read_timeout(0.3 if way == "timeout" else 30.0):
                job = publish_draft(
                    config, path, progress=lambda _line: None, clock=fake, sleep=fake.sleep
                )
            states[name] = job.state.value
        except PublisherError as exc:
            states[name] = f"error: {exc}"
        waited.append(sum(fake.slept))
    sandbox.faults(publish_delay_s=0, lose_publish_responses=0)
    counts = posts_per_caption(sandbox.posts(), wanted)
    duplicates = sum(count - 1 for count in counts.values() if count > 1)
    missing = [name for name, count in counts.items() if count == 0]
    not_published = {
        name: state for name, state in states.items() if state != State.PUBLISHED.value
    }
    passed = duplicates == 0 and not missing and not not_published
    return Row(
        key="lost_answers",
        scenario=f"lost media_publish answer: {way}",
        done=f"{repeats} drafts, each with its answer lost: {WAYS[way]} "
        f"({time.monotonic() - started:.0f} s)",
        figure=f"duplicates {duplicates}, no post {len(missing)}, not recorded published "
        f"{len(not_published)}; settle wait median {statistics.median(waited):.0f} s "
        "(the clock's, not real time)",
        goal="0 duplicates, each published once and recorded so",
        passed=passed,
        notes=[f"{name}: {state}" for name, state in list(not_published.items())[:3]]
        + [f"{name}: no post" for name in missing[:3]],
    )
