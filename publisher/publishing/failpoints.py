"""Crash points for tests: `PUBLISHER_FAILPOINT=<name>` makes the process SIGKILL itself at
that step of the publish flow, so that a test can prove a new run recovers from a kill -9
there without a second post (tests/e2e/test_kill_during_publish.py kills at each of them).
Read in `hit` only; without the variable every `hit` does nothing."""

from __future__ import annotations

import os
import signal

ENV = "PUBLISHER_FAILPOINT"
# Every step at which a crash must leave the flow recoverable (RELIABILITY.md §10 C1–C7).
NAMES = (
    "before_create",  # before POST /media
    "after_create",  # the container exists at Meta, not yet in the store
    "after_record",  # the container id is in the store
    "after_publish_request",  # publish_requested_at is durable, media_publish not sent
    "after_publish",  # media_publish answered, media_id not yet recorded
    "after_media_id",  # published + media_id durable, permalink not read
    "mid_write_back",  # the published status block half way to the draft file
)
# The same for the first comment (tests/e2e/test_kill_during_comment.py): only a draft with
# `first_comment` reaches them.
COMMENT_NAMES = (
    "after_comment_request",  # comment_requested_at is durable, the comment POST not sent
    "after_comment",  # Meta answered the comment POST, comment_id not yet recorded
)


# A local video sent to Meta's upload host (media.video_upload: resumable): only such a
# draft reaches it (tests/e2e/test_kill_during_publish.py).
UPLOAD_NAMES = ("mid_upload",)  # some of the video's bytes sent, not all


def hit(name: str) -> None:
    """Tests only: SIGKILL this process when PUBLISHER_FAILPOINT names this step."""
    assert name in NAMES or name in COMMENT_NAMES or name in UPLOAD_NAMES, name
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
