"""`publisher publish DRAFT` (SPEC §2): one draft published now, in the foreground, each step
printed as it happens. The publish itself is `publishing.flow`, the same exactly-once flow the
daemon runs; this command finds or makes the draft's job and waits out short retries.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from publisher import drafts, durations
from publisher.clock import Clock, Sleep, system_clock, system_sleep
from publisher.config import Config
from publisher.drafts import Draft
from publisher.errors import ContentLocked, DraftError, Problem, StateLocked, UserError
from publisher.job import FINAL, QUEUED, Job, State, is_final
from publisher.publishing import flow
from publisher.publishing.progress import Progress
from publisher.publishing.runtime import Runtime
from publisher.store import jobstore

# The command waits in the foreground for retries up to this long; a longer wait (a quota
# window, a long throttle) is left to the daemon.
FOREGROUND_MAX_WAIT = timedelta(minutes=10)
AGAIN = "publishing the same content again needs a new draft file"


def publish_draft(
    config: Config,
    path: Path,
    *,
    progress: Progress,
    clock: Clock = system_clock,
    sleep: Sleep = system_sleep,
) -> Job:
    """Publish one draft now, in the foreground, showing each step through `progress`;
    return the job. Retries wait in the foreground with the configured backoff (a wait
    longer than FOREGROUND_MAX_WAIT is left to the daemon: the job stays retrying).

    Raise DraftError with its problems if the draft is invalid; UserError if it is already
    published or unconfirmed, paused, or not for instagram; StateLocked (with a sentence) if
    the daemon owns state_dir. Killable at any moment: running it again never posts twice.
    """
    loaded = drafts.load(path, config)
    if loaded.errors or loaded.draft is None:
        raise DraftError(list(loaded.errors))
    draft = loaded.draft
    if draft.paused:
        raise UserError([_problem(loaded, "paused", "is true; set it to false to publish")])
    if "instagram" not in {name.lower() for name in draft.platforms}:
        raise UserError([_problem(loaded, "platforms", "does not list instagram")])
    try:
        rt = Runtime.open(config, clock=clock, sleep=sleep)
    except ContentLocked:
        raise
    except StateLocked as exc:
        raise StateLocked(_locked_sentence(config)) from exc
    with rt:
        job = _job_for(rt, loaded, draft, progress)
        if job.state is State.PUBLISHED:
            return job
        settings = config.publishing
        while True:
            job = flow.publish(rt, job.id, draft, progress=progress)
            if job.state is not State.RETRYING or job.next_attempt_at is None:
                return job
            wait = job.next_attempt_at - clock()
            if wait > FOREGROUND_MAX_WAIT:
                progress(
                    f"not waiting {durations.format(wait)} here: the job stays retrying, and "
                    "`publisher run` (or this command, run again later) goes on from there"
                )
                return job
            seconds = max(wait.total_seconds(), 0.0)
            progress(
                f"trying again in {seconds:.0f} s (attempt {job.attempts + 1} of "
                f"{settings.attempts})"
            )
            sleep(seconds)


def _renamed_job(rt: Runtime, draft: Draft, progress: Progress) -> Job | None:
    """The job of a draft file that went away with this draft's content (a rename, perhaps
    in the middle of a publish): it moves to the new name, so the draft keeps its one job
    and is never posted twice. None when there is no such job."""
    for job in rt.store.all():
        if (
            job.fingerprint == draft.fingerprint
            and job.draft != draft.rel
            and not (rt.config.content_dir / job.draft).exists()
        ):
            progress(f"{job.draft} was renamed to {draft.rel}: same job")
            return rt.store.update(job.id, draft=draft.rel)
    return None


def _job_for(rt: Runtime, loaded: drafts.Loaded, draft: Draft, progress: Progress) -> Job:
    """The draft's job, created if new, made publishable if it can be. Refuse (UserError) a
    draft that is already out: published (once the status block says so) or unconfirmed."""
    job = rt.store.by_draft(draft.rel) or _renamed_job(rt, draft, progress)
    shown = (loaded.status or {}).get("state")
    if job is None:
        if is_final(shown):
            raise UserError([_problem(loaded, "status", f"says {shown}; {AGAIN}")])
        now = rt.clock()
        return rt.store.add(
            Job(
                draft=draft.rel,
                fingerprint=draft.fingerprint,
                account=draft.account,
                type=draft.type,
                state=State.SCHEDULED,
                scheduled_for=now,
                caption_hash=draft.caption_hash,
            )
        )
    if job.state is State.PUBLISHED and shown != job.state.value:
        # An earlier run was stopped after the post went out and before it said so: finish
        # its bookkeeping (permalink, status block); that is what this run was asked for.
        progress(f"already published by an earlier run: media {job.media_id}")
        job = flow.complete(rt, job.id, draft, progress=progress)
        if job.permalink:
            progress(f"permalink {job.permalink}")
        return job
    if job.unfinished:
        job = flow.complete(rt, job.id, draft, progress=progress)  # one more try, then refuse
    if job.state in FINAL:
        what = (
            f"was published on {rt.local(job.published_at)} as media {job.media_id}"
            + (f" ({job.permalink})" if job.permalink else "")
            if job.state is State.PUBLISHED and job.published_at is not None
            else f"is {job.state.value}: {job.error or ''}"
        )
        raise UserError([_problem(loaded, "", f"{what}; {AGAIN}")])
    if job.state not in QUEUED:
        # failed, missed, cancelled, blocked...: the user asks for it now, with fresh attempts.
        reset = rt.store.transition(
            job.id,
            State.SCHEDULED,
            "publish now (publisher publish)",
            expect={job.state},
            attempts=0,
            next_attempt_at=None,
            scheduled_for=rt.clock(),
            error=None,
        )
        job = reset or rt.job(job.id)
    return job


def _problem(loaded: drafts.Loaded, field: str, message: str) -> Problem:
    return Problem(str(loaded.path), field, message)


def _locked_sentence(config: Config) -> str:
    lock = config.state_dir / jobstore.LOCK_FILE
    try:
        pid = lock.read_text(encoding="ascii").strip() or "?"
    except OSError:
        pid = "?"
    return (
        f"the daemon (pid {pid}) owns {config.state_dir}; set `publish_at: now` in the draft "
        "instead, or stop the daemon"
    )
