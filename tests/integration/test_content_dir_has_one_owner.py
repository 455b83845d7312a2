"""One process owns a content directory: a second one, even with another state_dir, is
refused with a sentence naming the process (README "Exactly once")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from publisher.commands.publish import publish_draft
from publisher.config import Config
from publisher.daemon.loop import Daemon
from publisher.errors import StateLocked
from tests.support.clock import START
from tests.support.daemon import at, draft, settle


def test_another_process_cannot_publish_the_same_content_dir_from_another_state_dir(
    daemon: Daemon, config: Config, tmp_path: Path
) -> None:
    """Two state dirs over one content_dir would each post its drafts: the content_dir
    is locked too."""
    path = draft(config, "a.yaml", publish_at=at(START + timedelta(hours=1)))
    daemon.on_paths({path})
    settle(daemon)
    other = config.model_copy(update={"state_dir": tmp_path / "other-state"})
    with pytest.raises(StateLocked, match="another publisher process"):
        publish_draft(other, path, progress=lambda _line: None)
