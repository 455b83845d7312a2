"""The daemon's inbox: `publisher retry` / `cancel` handed to the running daemon, and the
change they make to a job (SPEC §2).

    apply(store, action, rel, ...)   the change itself, made by whoever holds the state lock
    post(...) / take_answer(...)     the command's side of the hand-over
    serve(...) / clean(...)          the daemon's side

Only the process holding the state lock may change jobs. With no daemon running the command
takes the lock and calls `apply` itself (`commands.retry_cancel`). When the daemon holds it,
the command `post`s `state_dir/requests/<uuid>.json` ({"action", "draft"}) atomically and
waits; the daemon `serve`s it: applies it, writes `<uuid>.done` ({"ok", "message"}) and
deletes the request; the command takes the answer.

Several users (README "Running as a service"): the service user and the members of its group
hand requests in, so the daemon keeps `requests/` setgid and group-writable (FOLDER_MODE) and
requests and answers are group-readable (FILE_MODE). Each request is applied once: its id is
recorded on the job in the same write as the change, so a request whose answer cannot be
written or whose file cannot be removed (a folder another user owns) is never applied again,
by this daemon or the next; it is logged once, with the fix.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from publisher import drafts
from publisher.config import Config
from publisher.drafts import writeback
from publisher.errors import (
    Problem,
    PublisherError,
    UserError,
)
from publisher.job import CANCELLABLE, FINAL, RETRYABLE, Job, State, is_final
from publisher.planning.reconciler import CANCELLED_BY_USER, RETRY_NOW, retried
from publisher.store import atomicfile
from publisher.store.jobstore import JobStore

log = logging.getLogger(__name__)

Action = Literal["retry", "cancel"]
ACTIONS: tuple[Action, ...] = ("retry", "cancel")
FOLDER = "requests"
FOLDER_MODE = 0o2770  # setgid: a request takes the folder's group (the service's)
FILE_MODE = 0o660
KEEP_REQUEST_IDS = 20  # request ids kept on a job (the applied-once record)
# Answers nobody collected (the command was interrupted) are removed after this.
STALE_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Request:
    """A request file found by the daemon. `error` is set when the file cannot be used."""

    id: str
    action: str
    draft: str
    error: str | None = None


def apply(
    store: JobStore,
    action: str,
    rel: str,
    *,
    config: Config,
    now: datetime,
    request_id: str | None = None,
) -> str:
    """Given the open store, the action and a draft (relative to content_dir), change its job
    and write its status block back; return the sentence for the user. With `request_id`
    (a request handed to the daemon) the id is recorded on the job with the change, and a
    request already recorded there changes nothing again.

    retry: failed, missed, cancelled or blocked -> scheduled, attempts reset. A failed or
    missed one goes out as soon as possible; a cancelled or blocked one goes back to its
    place (`reconciler.retried`: its slot, or the next free one); the daemon re-plans it.
    cancel: scheduled, retrying, paused, blocked, invalid or locked -> cancelled.
    Raise UserError otherwise (published drafts are never published again; a publishing one
    cannot be stopped), for an unknown action, for a draft without a job, and for a retry
    of a draft whose file is gone (it would wait for a file that never comes).
    """
    job = store.by_draft(rel)
    if action not in ACTIONS:
        raise UserError([Problem(rel, "", f"unknown request {action!r}; use retry or cancel")])
    if job is not None and request_id is not None and request_id in job.requests:
        return f"{rel}: this {action} was already applied; `publisher status` shows the draft"
    ids = (request_id,) if request_id is not None else ()
    if job is None and action == "cancel":
        job = _new_cancelled(store, config, rel, ids)
        writeback.write(config, job)
        return f"{rel}: cancelled; `publisher retry {rel}` puts it back in the queue"
    if job is None:
        raise UserError(
            [
                Problem(
                    rel,
                    "",
                    "publisher has no job for this draft yet, so there is nothing to retry: "
                    "`publisher run` schedules it; `publisher status` lists the drafts it knows",
                )
            ]
        )
    ids = (*job.requests, *ids)[-KEEP_REQUEST_IDS:]
    retrying = action == "retry"
    changed = _retry(store, job, now, config, ids) if retrying else _cancel(store, job, ids)
    if changed is None:  # the job moved on between our read and our write: say what it is now
        current = store.get(job.id) or job
        raise UserError([Problem(rel, "", f"is now {current.state.value}; try again")])
    writeback.write(config, changed)
    if action == "cancel":
        return f"{rel}: cancelled; `publisher retry {rel}` puts it back in the queue"
    if changed.history and changed.history[-1].note == RETRY_NOW:
        return f"{rel}: re-queued (was {job.state.value}); it goes out as soon as possible"
    return f"{rel}: re-queued (was {job.state.value}); it takes its place in the queue"


def _new_cancelled(store: JobStore, config: Config, rel: str, ids: tuple[str, ...]) -> Job:
    """A draft the daemon has not seen yet, cancelled before it is ever scheduled: its job
    is created cancelled, so the daemon leaves it alone until `publisher retry`."""
    path = config.content_dir / rel
    if not _exists(path):
        raise UserError([Problem(rel, "", "no such draft in content_dir")])
    loaded = drafts.load(path, config, check_media=False)
    if is_final((loaded.status or {}).get("state")):
        raise UserError([Problem(rel, "", "is already published; cancel does not remove a post")])
    draft = loaded.draft
    return store.add(
        Job(
            draft=rel,
            fingerprint=loaded.fingerprint,
            account=draft.account if draft else "",
            type=draft.type if draft else "",
            caption_hash=draft.caption_hash if draft else None,
            state=State.CANCELLED,
            error=f"cancelled with `publisher cancel`; `publisher retry {rel}` re-queues it",
            requests=ids,
        )
    )


def _retry(
    store: JobStore, job: Job, now: datetime, config: Config, ids: tuple[str, ...]
) -> Job | None:
    if job.state in FINAL:
        raise UserError(
            [
                Problem(
                    job.draft,
                    "",
                    f"is {job.state.value}: published drafts are never published again; "
                    "copy it to a new file to post again",
                )
            ]
        )
    if job.state not in RETRYABLE:
        raise UserError([Problem(job.draft, "", _not_retryable(job))])
    path = config.content_dir / job.draft
    if not _exists(path):
        # Queued again without a file, the job would wait for a draft that never comes.
        raise UserError(
            [
                Problem(
                    job.draft, "", "its draft file is gone: put it back in content_dir, then retry"
                )
            ]
        )
    # Where it goes back to depends on the draft: its slot, its publish_at, or now.
    draft = drafts.load(path, config, check_media=False).draft
    note, scheduled_for = retried(job.state, draft, job.scheduled_for, now)
    return store.transition(
        job.id,
        State.SCHEDULED,
        note,
        expect={job.state},
        attempts=0,
        next_attempt_at=None,
        error=None,
        scheduled_for=scheduled_for,
        requests=ids,
    )


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _not_retryable(job: Job) -> str:
    reasons = {
        State.SCHEDULED: "is already scheduled; nothing to retry",
        State.RETRYING: "is already waiting for its next attempt; nothing to retry",
        State.PUBLISHING: "is being published right now",
        State.INVALID: "is invalid: fix the problems in its status block; the daemon re-reads "
        "it when the file changes",
        State.PAUSED: "is paused: set paused: false in the draft",
        State.LOCKED: "lists a platform that is not available: keep only instagram in platforms",
    }
    return reasons.get(job.state, f"is {job.state.value}; nothing to retry")


def _cancel(store: JobStore, job: Job, ids: tuple[str, ...]) -> Job | None:
    if job.state is State.CANCELLED:
        return job if ids == job.requests else store.update(job.id, requests=ids)
    if job.state not in CANCELLABLE:
        why = {
            State.PUBLISHING: "is being published right now and cannot be stopped",
            State.PUBLISHED: "is already published; cancel does not remove a post",
            State.UNCONFIRMED: "may already be published (unconfirmed); cancel does not "
            "remove a post",
        }.get(job.state, f"is {job.state.value}; there is nothing left to cancel")
        raise UserError([Problem(job.draft, "", why)])
    return store.transition(
        job.id,
        State.CANCELLED,
        CANCELLED_BY_USER,
        expect={job.state},
        error=f"cancelled with `publisher cancel`; `publisher retry {job.draft}` re-queues it",
        next_attempt_at=None,
        requests=ids,
    )


# --- the hand-over to a running daemon --------------------------------------------------


def post(state_dir: Path, action: Action, rel: str) -> str:
    """Leave a request for the daemon that holds state_dir (written atomically: the daemon
    sees all of it or nothing); return its id, for `take_answer`. Raise PermissionError if
    this user may not write into state_dir/requests."""
    folder = open_folder(state_dir)
    request_id = uuid.uuid4().hex
    body = json.dumps({"action": action, "draft": rel}).encode()
    atomicfile.write_bytes(folder / f"{request_id}.json", body, mode=FILE_MODE)
    return request_id


def open_folder(state_dir: Path) -> Path:
    """Return state_dir/requests, made if it is missing, with FOLDER_MODE (whatever the
    umask; also given to one of ours an older publisher made 0750). Raise OSError if it
    cannot be made."""
    folder = state_dir / FOLDER
    try:
        folder.mkdir(mode=0o770)
    except FileExistsError:
        found = folder.stat()
        if found.st_uid != os.geteuid() or stat.S_IMODE(found.st_mode) == FOLDER_MODE:
            return folder
    try:
        os.chmod(folder, FOLDER_MODE)
    except PermissionError:  # setgid needs its group to be one of ours; group access anyway
        os.chmod(folder, FOLDER_MODE & 0o777)
    return folder


def request_path(state_dir: Path, request_id: str) -> Path:
    """Where a posted request waits until the daemon takes it."""
    return state_dir / FOLDER / f"{request_id}.json"


def take_answer(state_dir: Path, request_id: str) -> tuple[bool, str] | None:
    """The daemon's answer to a request (ok, the sentence for the user), removed once read;
    None while there is none yet."""
    path = state_dir / FOLDER / f"{request_id}.done"
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:
        answer = False, "the daemon's answer could not be read"
    else:
        answer = bool(data.get("ok")), str(data.get("message", ""))
    path.unlink(missing_ok=True)
    return answer


def pending(state_dir: Path) -> list[Request]:
    """The requests waiting in state_dir/requests, oldest first (the daemon's side)."""
    folder = state_dir / FOLDER
    try:
        paths = sorted(folder.glob("*.json"), key=_mtime)
    except OSError:
        return []
    found = []
    for path in paths:
        try:
            data: Any = json.loads(path.read_bytes())
            action, draft = str(data["action"]), str(data["draft"])
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError) as exc:
            found.append(Request(path.stem, "", "", f"unreadable request: {exc}"))
            continue
        found.append(Request(path.stem, action, draft))
    return found


def answer(state_dir: Path, request: Request, ok: bool, message: str) -> None:
    """Write the outcome of a request for the waiting CLI and remove the request file."""
    folder = state_dir / FOLDER
    body = json.dumps({"ok": ok, "message": message}).encode()
    atomicfile.write_bytes(folder / f"{request.id}.done", body, mode=FILE_MODE)
    (folder / f"{request.id}.json").unlink(missing_ok=True)


# Requests applied (or refused) whose answer could not be written or whose file could not be
# removed: not looked at again by this process (the id on the job guards the next one).
_unanswered: set[str] = set()


def serve(
    store: JobStore, config: Config, *, now: datetime, busy: Callable[[str], bool]
) -> list[str]:
    """The daemon's side: apply every waiting request, answer each, and return the drafts
    whose job changed. `busy(job_id)` says a worker is publishing that job right now (such a
    request is refused: try again in a moment). A request is applied once (module
    docstring)."""
    with contextlib.suppress(OSError):  # no state_dir: nothing can be waiting
        open_folder(config.state_dir)
    changed = []
    for request in pending(config.state_dir):
        if request.id in _unanswered:
            continue
        ok, message = False, request.error or ""
        if request.error is None:
            try:
                job = store.by_draft(request.draft)
                if job is not None and busy(job.id):
                    message = f"{request.draft} is being published right now; try again shortly"
                else:
                    message = apply(
                        store,
                        request.action,
                        request.draft,
                        config=config,
                        now=now,
                        request_id=request.id,
                    )
                    ok = True
            except UserError as exc:
                message = "; ".join(problem.message for problem in exc.problems)
            except (PublisherError, OSError) as exc:
                message = f"the request could not be applied: {exc}"
        log.info("request %s %s: %s", request.action or "?", request.draft or "?", message)
        try:
            answer(config.state_dir, request, ok, message)
        except OSError as exc:
            _unanswered.add(request.id)
            where = config.state_dir / FOLDER
            log.error(
                "request %s (%s %s) was handled but cannot be answered or removed: %s; it is "
                "not applied again. Remove %s and make %s the service user's "
                '(README "Running as a service")',
                request.id,
                request.action or "?",
                request.draft or "?",
                exc,
                where / f"{request.id}.json",
                where,
            )
        if ok:
            changed.append(request.draft)
    return changed


def clean(state_dir: Path, now: Callable[[], float] = time.time) -> int:
    """Remove answers older than STALE_AFTER that nobody collected; return how many.
    `now` is the wall clock the files' modification times are written by (not the daemon's
    injected clock, which a test may have moved anywhere)."""
    removed = 0
    cutoff = now() - STALE_AFTER.total_seconds()
    for path in (state_dir / FOLDER).glob("*.done"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
