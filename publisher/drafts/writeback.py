"""A job's status written into its draft: the one way every part of publisher does it.

The job store is the truth and the draft's `status:` block its projection (SPEC §5), so the
write-back is best effort and never fails what asked for it: a draft that keeps changing, or
that cannot be written, is logged and gets its block at its next change. The publish flow,
`publisher retry`/`cancel` and the daemon's draft sync all write through `write`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from publisher.config import Config
from publisher.drafts import files, statusblock
from publisher.errors import ConcurrentEdit
from publisher.job import Job

log = logging.getLogger(__name__)


def write(
    config: Config,
    job: Job,
    *,
    path: Path | None = None,
    before_replace: Callable[[], None] | None = None,
) -> bool:
    """Given the config and a job, write the job's status block (times in config.tz) into its
    draft: `path`, else content_dir / job.draft. Return False if the draft file is not there
    (what that means is the caller's to say), True otherwise: written, or the reason it was
    not (an edit that kept racing ours, a disk error) logged as a warning. Never raise for
    the file. `before_replace` is statusblock.write's test hook."""
    target = path if path is not None else config.content_dir / job.draft
    if not os.path.lexists(target):
        return False
    try:
        files.inside(config.content_dir, target)
    except files.OutsideContentDir as exc:
        # never write through a link out of content_dir (it could be any file the service
        # user may write: its config, its state)
        log.warning("%s: status not written back: the draft %s", job.draft, exc.strerror)
        return True
    try:
        statusblock.write(target, job.status_block(config.tz), _before_replace=before_replace)
    except FileNotFoundError:
        return False
    except ConcurrentEdit as exc:
        log.warning("%s: status not written back: %s", job.draft, exc)
    except OSError as exc:
        log.warning("%s: status not written back: %s", job.draft, exc.strerror or exc)
    return True
