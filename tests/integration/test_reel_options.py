"""A trial reel with its audio name, end to end against the sandbox over loopback (SPEC §8,
issue 9): the draft's `trial` goes out as Meta's `trial_params` with the graduation strategy,
`audio_name` as it is; the sandbox fetches and checks the real video."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from publisher.commands.publish import publish_draft
from publisher.job import State
from publisher.sandbox.server import SandboxServer
from tests.support.clock import SleepClock
from tests.support.site import DRAFTS, load_config, make_site, write_draft


@pytest.mark.parametrize(
    ("trial", "strategy"), [("manual", "MANUAL"), ("performance", "SS_PERFORMANCE")]
)
def test_a_trial_reel_goes_out_with_its_strategy_and_audio_name(
    tmp_path: Path, sandbox: SandboxServer, fake_time: SleepClock, trial: str, strategy: str
) -> None:
    site = load_config(make_site(tmp_path, account={"base_url": sandbox.base_url}))
    text = DRAFTS["reel"] + f"trial: {trial}\naudio_name: Original sound — test pattern\n"
    path = write_draft(site, "reel", text=text)

    job = publish_draft(
        site, path, progress=lambda _line: None, clock=fake_time, sleep=fake_time.sleep
    )

    assert job.state is State.PUBLISHED, job.error
    [post] = sandbox.posts()
    assert post["media_product_type"] == "REELS"
    assert json.loads(post["extras"]["trial_params"]) == {"graduation_strategy": strategy}
    assert post["extras"]["audio_name"] == "Original sound — test pattern"
