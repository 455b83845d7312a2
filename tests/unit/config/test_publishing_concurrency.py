"""publishing.concurrency: a busy site publishes hundreds of drafts at once (issue 8, the busy
minute), so the cap is well above the old 16."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher import config
from publisher.errors import ConfigError
from tests.support.configs import MINIMAL, write


@pytest.mark.parametrize("concurrency", [17, 200, 256])
def test_a_concurrency_above_16_is_accepted(tmp_path: Path, concurrency: int) -> None:
    text = MINIMAL + f"publishing:\n  concurrency: {concurrency}\n"
    assert config.load(write(tmp_path, text), environ={}).publishing.concurrency == concurrency


def test_a_concurrency_above_the_cap_names_it(tmp_path: Path) -> None:
    text = MINIMAL + "publishing:\n  concurrency: 257\n"
    with pytest.raises(ConfigError) as caught:
        config.load(write(tmp_path, text), environ={})
    [problem] = caught.value.problems
    assert problem.field == "at 'publishing.concurrency'"
    assert "256" in problem.message
