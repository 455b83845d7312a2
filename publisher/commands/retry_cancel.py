"""`publisher retry DRAFT` and `publisher cancel DRAFT` (SPEC §2), with or without the daemon.

Only the process holding the state lock may change jobs. With no daemon running, the command
takes the lock and applies the change itself; when the daemon holds it, the request goes to
the daemon's inbox (`daemon.inbox`) and the command waits for the answer.

Who may: the owner of state_dir (the service user) and the members of its group (README
"Running as a service"); anyone else meets a PermissionError, which the CLI turns into a
sentence. Root acts as the owner of state_dir (`act_as_owner`), so `sudo publisher cancel`
never leaves a root-owned file where the service must write.
"""

from __future__ import annotations

import os
import pwd
import time
from pathlib import Path

from publisher.clock import Clock, Sleep, system_clock, system_sleep
from publisher.config import Config
from publisher.daemon import inbox
from publisher.errors import Problem, StateLocked, StoreError, UserError
from publisher.store.jobstore import JobStore

WAIT_SECONDS = 10.0
POLL_EVERY = 0.05


def submit(
    config: Config,
    action: inbox.Action,
    draft: Path,
    *,
    clock: Clock = system_clock,
    sleep: Sleep = system_sleep,
    wait: float = WAIT_SECONDS,
) -> str:
    """Given the config, "retry" or "cancel" and a draft path, carry the request out and
    return the sentence saying what happened.

    With no daemon running the job store is changed here and the status block written back;
    otherwise the daemon applies it (see `daemon.inbox`) within `wait` seconds. Raise
    UserError for a draft outside content_dir, one publisher has no job for, or a request
    that does not fit the job's state (with the reason and what to do instead); StoreError if
    the daemon does not answer in time (the request stays queued).
    """
    rel = relative_draft(config, draft)
    act_as_owner(config.state_dir)
    try:
        store = JobStore(config.state_dir, clock=clock, lock=True)
    except StateLocked:
        return _through_daemon(config, action, rel, sleep=sleep, wait=wait)
    with store:
        return inbox.apply(store, action, rel, config=config, now=clock())


def act_as_owner(state_dir: Path) -> None:
    """When this process is root and state_dir belongs to another user, become that user
    (its groups too) for the rest of the process: whatever the command then writes (the
    lock, jobs.json, a request, a draft's status block) is the service user's, as if the
    daemon had written it. Otherwise change nothing."""
    if os.geteuid() != 0:
        return
    try:
        found = os.stat(state_dir)
    except OSError:  # no state_dir yet: nothing of the service's to keep
        return
    if found.st_uid == 0:
        return
    try:
        account = pwd.getpwuid(found.st_uid)
    except KeyError:  # an owner without an account: its uid and state_dir's group
        os.setgroups([found.st_gid])
        os.setgid(found.st_gid)
    else:
        os.initgroups(account.pw_name, account.pw_gid)
        os.setgid(account.pw_gid)
    os.setuid(found.st_uid)


def relative_draft(config: Config, draft: Path) -> str:
    """Given a draft path as the user typed it (relative to the working folder, or
    absolute), return it relative to content_dir. Raise UserError if it is outside."""
    absolute = Path(draft).expanduser().absolute()
    for base in (config.content_dir, config.content_dir.resolve()):
        for candidate in (absolute, absolute.resolve()):
            try:
                return candidate.relative_to(base).as_posix()
            except ValueError:
                continue
    raise UserError([Problem(str(draft), "", f"is not inside content_dir ({config.content_dir})")])


def _through_daemon(
    config: Config, action: inbox.Action, rel: str, *, sleep: Sleep, wait: float
) -> str:
    request_id = inbox.post(config.state_dir, action, rel)
    # Real time: the wait is for another process, whatever clock this one was given.
    deadline = time.monotonic() + wait
    while True:
        answer = inbox.take_answer(config.state_dir, request_id)
        if answer is not None:
            ok, message = answer
            if not ok:
                raise UserError([Problem(rel, "", message)])
            return message
        if time.monotonic() >= deadline:
            raise StoreError(
                f"the daemon holds {config.state_dir} but did not answer within {wait:g} s; "
                f"the request stays in {inbox.request_path(config.state_dir, request_id)} and "
                "is applied when the daemon gets to it (`publisher status` shows the outcome)"
            )
        sleep(POLL_EVERY)
