"""End to end: `publishing` against the sandbox over real loopback HTTP, the media served by
the real ServeHost (the sandbox downloads and checks every file), for every draft type.
Clock and sleep are fake, so polling, backoff and the reconciliation wait take no time. The
sandbox, the clock and the site are the fixtures of tests/integration/conftest.py."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from publisher import cli
from publisher.commands import accounts
from publisher.commands.publish import publish_draft
from publisher.config import Config
from publisher.drafts import statusblock
from publisher.errors import DraftError, StateLocked, UserError
from publisher.job import Job, State
from publisher.sandbox.server import SandboxServer
from publisher.store import jobstore
from tests.support.clock import SleepClock
from tests.support.site import DRAFTS, IG_USER_ID, load_config, make_site, write_draft


def run(config: Config, path: Path, fake_time: SleepClock) -> tuple[Job, list[str]]:
    lines: list[str] = []
    job = publish_draft(config, path, progress=lines.append, clock=fake_time, sleep=fake_time.sleep)
    return job, lines


def stored(config: Config, path: Path) -> Job:
    rel = path.relative_to(config.content_dir).as_posix()
    [job] = [job for job in jobstore.read_jobs(config.state_dir) if job.draft == rel]
    return job


EXPECTED = {
    # type: (media_type, media_product_type, permalink part, children)
    "post": ("IMAGE", "FEED", "/p/", 0),
    "carousel": ("CAROUSEL_ALBUM", "FEED", "/p/", 3),
    "reel": ("VIDEO", "REELS", "/reel/", 0),
    "story": ("IMAGE", "STORY", "/stories/", 0),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_type_publishes_exactly_one_post(
    kind: str, site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    path = write_draft(site, kind)
    job, lines = run(site, path, fake_time)

    assert job.state is State.PUBLISHED, job.error
    [post] = sandbox.posts()
    media_type, product, link, children = EXPECTED[kind]
    assert (post["media_type"], post["media_product_type"]) == (media_type, product)
    assert len(post["children"]) == children
    assert link in post["permalink"]
    assert (job.media_id, job.permalink) == (post["id"], post["permalink"])
    assert all(count == 1 for count in sandbox.publish_calls().values())
    status = statusblock.read(path.read_bytes())
    assert status is not None
    assert status["state"] == "published"
    assert status["media_id"] == post["id"]
    assert status["permalink"] == post["permalink"]
    assert status["error"] is None
    assert any(line.startswith("creating container for") for line in lines)
    assert f"published: media {post['id']}" in lines
    assert f"permalink {post['permalink']}" in lines
    assert stored(site, path).state is State.PUBLISHED


@pytest.mark.slow
def test_reel_options_reach_instagram(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    job, _ = run(site, write_draft(site, "reel"), fake_time)
    assert job.state is State.PUBLISHED, job.error
    [post] = sandbox.posts()
    extras = post["extras"]
    assert extras["share_to_feed"] == "true"
    assert extras["thumb_offset"] == "1500"
    assert extras["location_id"] == "110843418940484"
    assert "jane" in extras["collaborators"] and "joe" in extras["collaborators"]


@pytest.mark.slow
@pytest.mark.parametrize("lose_with", ["drop", "502"])
def test_lost_publish_response_is_reconciled_to_one_post(
    lose_with: str, site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    sandbox.faults.lose_publish_responses = 1
    sandbox.faults.lose_publish_with = lose_with
    job, lines = run(site, write_draft(site, "post"), fake_time)

    assert job.state is State.PUBLISHED, job.error
    [post] = sandbox.posts()
    assert job.media_id == post["id"]
    assert job.permalink == post["permalink"]
    assert sandbox.publish_calls() == {post["container_id"]: 1}
    assert any("reconciled" in event.note for event in job.history)
    assert any("checking what happened" in line for line in lines)
    # the reconciliation waited for a request that might still be in flight
    assert sum(fake_time.slept) >= 60


@pytest.mark.slow
def test_exhausted_quota_waits_without_publishing(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    sandbox.faults.quota_used_extra = sandbox.faults.quota_total
    path = write_draft(site, "post")
    job, lines = run(site, path, fake_time)

    assert job.state is State.RETRYING
    assert job.attempts == 0  # a quota wait is not a failed attempt
    assert job.next_attempt_at is not None and job.next_attempt_at > fake_time.now
    assert job.error is not None and "100 of 100 posts" in job.error
    assert sandbox.publish_calls() == {} and sandbox.posts() == []
    assert not any(call.step == "create" for call in job.api_calls)
    assert statusblock.read(path.read_bytes())["state"] == "retrying"  # type: ignore[index]
    assert any("not waiting" in line for line in lines)


@pytest.mark.slow
def test_error_container_fails_with_metas_status_text(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    sandbox.faults.error_containers = 10
    job, _ = run(site, write_draft(site, "post"), fake_time)

    assert job.state is State.FAILED
    assert job.error is not None and "2207026" in job.error
    assert "Media upload has failed" in job.error
    assert sandbox.posts() == [] and sandbox.publish_calls() == {}
    # 2207026 is a property of the media (Permanent): no rebuild, no second attempt
    assert [c.status_code for c in job.containers] == ["ERROR"]
    assert job.attempts == 1


@pytest.mark.slow
def test_expired_container_is_rebuilt_and_published_once(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    sandbox.faults.expire_containers = 1
    job, _ = run(site, write_draft(site, "post"), fake_time)

    assert job.state is State.PUBLISHED, job.error
    assert [c.status_code for c in job.containers] == ["EXPIRED", "PUBLISHED"]
    assert len(sandbox.posts()) == 1
    assert job.attempts == 1


@pytest.mark.slow
def test_never_publishes_before_finished(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    sandbox.faults.processing_polls = 6
    job, _ = run(site, write_draft(site, "carousel"), fake_time)

    assert job.state is State.PUBLISHED, job.error
    assert not any(call.error == "9007/2207027" for call in job.api_calls)
    assert sum(1 for call in job.api_calls if call.step == "publish") == 1


@pytest.mark.slow
def test_transient_errors_are_retried_to_one_post(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    sandbox.faults.transient_5xx_rate = 0.3
    job, _ = run(site, write_draft(site, "carousel"), fake_time)

    assert job.state is State.PUBLISHED, job.error
    assert len(sandbox.posts()) == 1
    assert all(count == 1 for count in sandbox.publish_calls().values())


@pytest.mark.slow
def test_invalid_token_blocks_the_job(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    sandbox.faults.invalid_token = True
    job, _ = run(site, write_draft(site, "post"), fake_time)
    assert job.state is State.BLOCKED
    assert job.error is not None and "code 190" in job.error
    assert "publisher accounts" in job.error


@pytest.mark.slow
def test_a_published_draft_is_refused_with_exit_1(
    site: Config, sandbox: SandboxServer, fake_time: SleepClock, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_draft(site, "post")
    run(site, path, fake_time)
    with pytest.raises(UserError, match="was published on .* as media"):
        run(site, path, fake_time)

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:  # cli.main sets up logging on this test's (soon closed) stderr: undo it after
        status = cli.main(["-c", str(site.config_path), "publish", str(path)], out=io.StringIO())
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert status == 1
    assert "publishing the same content again needs a new draft file" in capsys.readouterr().err
    assert len(sandbox.posts()) == 1


def test_an_invalid_draft_raises_its_problems(site: Config, fake_time: SleepClock) -> None:
    path = write_draft(site, "post", text="type: post\nmedia: [missing.jpg]\n")
    with pytest.raises(DraftError) as raised:
        run(site, path, fake_time)
    assert any("missing.jpg" in str(problem) for problem in raised.value.problems)


def test_a_running_daemon_is_named(site: Config, fake_time: SleepClock) -> None:
    path = write_draft(site, "post")
    with (
        jobstore.JobStore(site.state_dir, clock=fake_time),
        pytest.raises(StateLocked) as raised,
    ):
        run(site, path, fake_time)
    message = str(raised.value)
    assert f"the daemon (pid {__import__('os').getpid()}) owns {site.state_dir}" in message
    assert "publish_at: now" in message


@pytest.mark.slow
def test_in_process_sandbox_keeps_its_posts(tmp_path: Path, fake_time: SleepClock) -> None:
    """`api: sandbox` without base_url: the Runtime starts the sandbox itself, with its state
    in state_dir/sandbox.json (what a fresh clone's config.yaml does)."""
    config = load_config(make_site(tmp_path))
    job, _ = run(config, write_draft(config, "story"), fake_time)
    assert job.state is State.PUBLISHED, job.error
    kept = SandboxServer(state_path=config.state_dir / "sandbox.json", fetch_media=False)
    assert [post["id"] for post in kept.posts()] == [job.media_id]


@pytest.mark.slow
def test_accounts_shows_token_username_and_quota(
    tmp_path: Path, sandbox: SandboxServer, fake_time: SleepClock
) -> None:
    config = load_config(
        make_site(
            tmp_path,
            account={"base_url": sandbox.base_url},
            extra_accounts={
                "local": {"api": "sandbox", "ig_user_id": "17841400000000002"},
                "live": {"api": "instagram", "ig_user_id": "17841400000000003"},
            },
        )
    )
    run(config, write_draft(config, "post", text=DRAFTS["post"] + "account: main\n"), fake_time)
    rows = {row.name: row for row in accounts.check(config, clock=fake_time)}

    assert rows["main"].valid and rows["main"].username == f"sandbox_{IG_USER_ID[-4:]}"
    assert (rows["main"].quota_used, rows["main"].quota_total) == (1, 100)
    assert rows["main"].token_expires is not None
    assert rows["local"].valid  # the in-process sandbox, on a copy of its state
    assert not rows["live"].valid
    assert "PUBLISHER_ACCOUNTS__LIVE__ACCESS_TOKEN" in rows["live"].reason
    table = accounts.render(list(rows.values()))
    assert "INVALID" in table and "1/100" in table

    sandbox.faults.invalid_token = True
    [main] = [row for row in accounts.check(config) if row.name == "main"]
    assert not main.valid and "code 190" in main.reason
