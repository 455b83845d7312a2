"""Clock jumps of plus and minus one hour (a suspend, an NTP step, a wrong RTC fixed): the
daemon in this process on a clock the harness moves (tests/support/clock.ManualClock; the
sandbox reads the same clock), drafts with publish_at around the jump.

+1 h: drafts due 10, 30 and 50 minutes later all fall due at once (late by less than
misfire_grace, 1 h: published, once), one due 70 minutes later waits for its time.
-1 h: a draft already published is not published again when its time comes round again;
a draft due 20 minutes later goes out when the clock reaches its time, not before.
Counted: duplicates, drafts not out, drafts out before their time, drafts marked missed."""

from __future__ import annotations

from datetime import datetime, timedelta

from bench.reliability.common import Row, posts_per_caption, workdir
from publisher.daemon.loop import Daemon
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from tests.support.clock import START, ManualClock
from tests.support.daemon import at, jobs_by_draft, open_daemon, settle, site_config, write


class _Now:
    clock = ManualClock()

    def __call__(self) -> datetime:
        return self.clock()


def run(quick: bool) -> list[Row]:
    rounds = 2 if quick else 10
    return [_jumps(+1, rounds), _jumps(-1, rounds)]


def _jumps(sign: int, rounds: int) -> Row:
    duplicates = not_out = early = missed = drafts = 0
    notes: list[str] = []
    for number in range(rounds):
        result = _one(sign, number)
        duplicates += result["duplicates"]
        not_out += result["not_out"]
        early += result["early"]
        missed += result["missed"]
        drafts += result["drafts"]
        notes += result["notes"]
    passed = duplicates == not_out == early == missed == 0
    name = "+1 h" if sign > 0 else "-1 h"
    return Row(
        key="clock_jumps",
        scenario=f"clock jump {name}",
        done=f"{rounds} runs of the daemon, {drafts} drafts due around a jump of {name}",
        figure=f"duplicates {duplicates}, not out {not_out}, out early {early}, missed {missed}",
        goal="0 of each",
        passed=passed,
        notes=notes[:3],
    )


def _one(sign: int, number: int) -> dict[str, int | list[str]]:
    now = _Now()
    now.clock = ManualClock(START + timedelta(days=number))
    clock = now.clock
    with workdir("clock") as root, SandboxServer(clock=now, fetch_media=False) as sandbox:
        config = site_config(root, sandbox.base_url, publishing={"prepare_ahead": "10m"})
        start = clock()
        if sign > 0:
            due = {f"d{m}.yaml": start + timedelta(minutes=m) for m in (10, 30, 50, 70)}
        else:
            due = {f"d{m}.yaml": start + timedelta(minutes=m) for m in (5, 20)}
        captions = {}
        for name, when in due.items():
            captions[name] = f"Clock jump {sign:+d} h, {name}, run {number}"
            write(
                config.content_dir / name,
                f'type: post\ncaption: "{captions[name]}"\nmedia: [sunrise.jpg]\n'
                f"publish_at: {at(when)}\n",
            )
        daemon: Daemon = open_daemon(config, clock)
        published_at: dict[str, datetime] = {}

        def step_to(moment: datetime) -> None:
            settle(daemon)
            for name, job in jobs_by_draft(config).items():
                if job.state is State.PUBLISHED and name not in published_at:
                    published_at[name] = clock()
            clock.now = moment

        try:
            if sign > 0:
                step_to(start + timedelta(minutes=1))
                step_to(start + timedelta(minutes=61))  # the jump
                for minute in range(62, 80):
                    step_to(start + timedelta(minutes=minute))
            else:
                for minute in range(1, 8):
                    step_to(start + timedelta(minutes=minute))
                step_to(start + timedelta(minutes=7 - 60))  # the jump back
                for minute in range(-52, 25, 2):
                    step_to(start + timedelta(minutes=minute))
            settle(daemon)
        finally:
            daemon.shutdown()
        jobs = jobs_by_draft(config)
        posts = posts_per_caption(sandbox.posts(), captions)
    notes = []
    early = 0
    for name, when in due.items():
        seen = published_at.get(name)
        # a jump back puts the clock before times already passed: "early" is only before
        # the due time on the clock as it ran when the draft went out
        if seen is not None and seen < when and not (sign < 0 and name == "d5.yaml"):
            early += 1
            notes.append(f"{name} out at {seen:%H:%M}, due {when:%H:%M}")
    return {
        "drafts": len(due),
        "duplicates": sum(count - 1 for count in posts.values() if count > 1),
        "not_out": sum(1 for count in posts.values() if count == 0),
        "early": early,
        "missed": sum(1 for job in jobs.values() if job.state is State.MISSED),
        "notes": notes,
    }
