"""Adversarial review: each test is a concrete way the project's promises were broken (one
post per draft, no token anywhere, a sentence for bad input, exit codes), kept as a
regression test. The publish flow runs against the sandbox over real loopback HTTP with a
fake clock, as in test_e2e_publish."""

from __future__ import annotations

import io
import logging
import socket
import struct
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import respx

from publisher import cli, drafts
from publisher import config as config_module
from publisher.commands.publish import publish_draft
from publisher.config import Config
from publisher.drafts import Draft
from publisher.errors import Ambiguous, ApiError, ConfigError, Transient
from publisher.hosting import mediahost
from publisher.instagram import client as graph
from publisher.instagram import session
from publisher.job import Job, State
from publisher.publishing import flow as publishing
from publisher.publishing.progress import Progress
from publisher.sandbox.server import SandboxServer
from publisher.store import jobstore
from tests.support.fakegraph import T0, Env, open_env
from tests.support.graphclient import graph_error
from tests.support.site import FakeTime, load_config, make_site, write_draft


@pytest.fixture(scope="module")
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture(scope="module")
def sandbox_server(fake_time: FakeTime) -> Iterator[SandboxServer]:
    server = SandboxServer(clock=fake_time.clock)
    server.start()
    yield server
    server.close()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture
def site(tmp_path: Path, sandbox: SandboxServer) -> Config:
    return load_config(make_site(tmp_path, account={"base_url": sandbox.base_url}))


def publish_now(config: Config, path: Path, fake_time: FakeTime, progress: Progress) -> Job:
    return publish_draft(
        config, path, progress=progress, clock=fake_time.clock, sleep=fake_time.sleep
    )


def only_job(config: Config) -> Job:
    [job] = jobstore.read_jobs(config.state_dir)
    return job


# --- a failure that is not Instagram's, after the post went out -----------------------------


@pytest.mark.parametrize("line", ["published: media", "permalink "])
def test_an_error_after_the_post_went_out_never_publishes_it_again(
    line: str, site: Config, sandbox: SandboxServer, fake_time: FakeTime
) -> None:
    # `publisher publish DRAFT | head -3`: printing a step after media_publish answered
    # raises BrokenPipeError. The post is out; the job must stay published, or the next
    # attempt (the daemon's, or this command again) makes a second post.
    def progress(text: str) -> None:
        if text.startswith(line):
            raise BrokenPipeError(32, "Broken pipe")

    path = write_draft(site, "post")
    with pytest.raises(BrokenPipeError):
        publish_now(site, path, fake_time, progress)

    job = only_job(site)
    assert job.state is State.PUBLISHED
    [post] = sandbox.posts()
    assert job.media_id == post["id"]

    again = publish_now(site, path, fake_time, lambda _text: None)
    assert again.state is State.PUBLISHED
    assert len(sandbox.posts()) == 1
    assert sum(sandbox.publish_calls().values()) == 1


# --- a story's caption is never sent, so it cannot recognise the story ----------------------


def test_a_story_with_a_caption_is_found_after_a_lost_publish_answer(
    site: Config, sandbox: SandboxServer, fake_time: FakeTime
) -> None:
    # drafts warns that a story's caption is not sent; the story on Instagram has none, so
    # reconciliation must look for "no caption", or a story it can see stays unconfirmed.
    text = "type: story\ncaption: behind the scenes\nmedia: [story.jpg]\n"
    path = write_draft(site, "story", text=text)
    sandbox.faults.lose_publish_responses = 1

    job = publish_now(site, path, fake_time, lambda _text: None)

    [story] = sandbox.posts()
    assert job.state is State.PUBLISHED, job.error
    assert job.media_id == story["id"]
    assert sum(sandbox.publish_calls().values()) == 1


# --- an environment variable that is not JSON -----------------------------------------------

SECRET = "EAAB-review-secret-0123456789"
MINIMAL = 'accounts:\n  main: {ig_user_id: "17841400000000001"}\n'


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PUBLISHER_ACCOUNTS", '{"main": {"ig_user_id": "1", "access_token": "' + SECRET + '"'),
        ("PUBLISHER_SCHEDULE", "{slots: [}"),
        ("PUBLISHER_MEDIA__S3", "{"),
    ],
)
def test_an_environment_variable_that_is_not_json_is_a_config_error(
    name: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        config_module.load(path, environ={name: value})
    [problem] = caught.value.problems
    assert problem.path == str(path)
    assert name in problem.message and "JSON" in problem.message
    assert SECRET not in str(caught.value)

    # the command line: exit 2 (a config error) with that sentence, no traceback
    with pytest.MonkeyPatch.context() as env:
        env.setenv(name, value)
        code = cli.main(["-c", str(path), "validate"], out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 2
    assert name in err and "internal error" not in err
    assert SECRET not in err


# --- a token that cannot travel in an HTTP header -------------------------------------------


@pytest.mark.parametrize(
    ("lines", "token_file", "environ"),
    [
        # a "smart" quote pasted along with the token
        ("", None, {"PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN": SECRET + "\u201d"}),
        # two tokens pasted on two lines
        ("", None, {"PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN": SECRET + "\n" + SECRET}),
        # a token file saved as "Unicode" (UTF-16) by a Windows editor
        ("    access_token_file: tok\n", SECRET.encode("utf-16"), {}),
    ],
    ids=["non-ascii", "inner-line-break", "utf16-file"],
)
def test_a_token_that_cannot_be_sent_is_a_config_error_without_the_token(
    lines: str,
    token_file: bytes | None,
    environ: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Otherwise httpx raises UnicodeEncodeError (or h11 an illegal header) on the first call:
    # `publisher accounts` said "internal error", and a publish failed without saying why.
    path = tmp_path / "config.yaml"
    path.write_text(
        'accounts:\n  main:\n    api: facebook\n    ig_user_id: "17841400000000001"\n' + lines,
        encoding="utf-8",
    )
    if token_file is not None:
        (tmp_path / "tok").write_bytes(token_file)
    with pytest.raises(ConfigError) as caught:
        config_module.load(path, environ=environ)
    [problem] = caught.value.problems
    assert problem.field.startswith("at 'accounts.main.access_token")
    assert "paste" in problem.message
    assert SECRET not in str(caught.value)

    with pytest.MonkeyPatch.context() as env:
        for key, value in environ.items():
            env.setenv(key, value)
        code = cli.main(["-c", str(path), "accounts"], out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 2
    assert "internal error" not in err and SECRET not in err


# --- an answer the JSON parser cannot take ----------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000  # valid JSON; json.loads gives up with RecursionError


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda client: client.container_status("1790"), Transient),
        (lambda client: client.media("1790"), Transient),
        (lambda client: client.publish("1790"), Ambiguous),
    ],
    ids=["status", "permalink", "publish"],
)
def test_a_body_too_deep_to_parse_is_an_api_error(
    call: Callable[[graph.Client], object], expected: type[ApiError]
) -> None:
    # A proxy or a broken server answering 200 with deeply nested JSON: nothing above the
    # client may see a foreign exception (the flow turns only ApiErrors into job states).
    base = "https://graph.test"
    with respx.mock(assert_all_called=False) as router, session.make_http() as http:
        router.route(url__startswith=base).mock(return_value=httpx.Response(200, text=DEEP))
        client = graph.Client(
            http=http,
            base_url=base,
            api_version="v25.0",
            ig_user_id="17841400000000001",
            token=SECRET,
            sleep=lambda _seconds: None,
            retry_wait=0,
            max_retries=0,
        )
        with pytest.raises(expected):
            call(client)


# --- reconciliation and the posts other jobs already hold -----------------------------------


def test_a_story_after_another_story_is_found_after_a_lost_publish_answer(
    site: Config, sandbox: SandboxServer, fake_time: FakeTime
) -> None:
    # Stories have no caption, so every story in the window matches by caption. The one
    # published a moment earlier is another job's post (its media id is in the store): it
    # is not a candidate, and the lost story is identified instead of left unconfirmed.
    first = publish_now(site, write_draft(site, "story", "one.yaml"), fake_time, print)
    assert first.state is State.PUBLISHED
    sandbox.faults.lose_publish_responses = 1

    second = publish_now(site, write_draft(site, "story", "two.yaml"), fake_time, print)

    posts = {post["container_id"]: post["id"] for post in sandbox.posts()}
    assert len(posts) == 2
    assert second.state is State.PUBLISHED, second.error
    assert second.media_id == posts[second.containers[-1].id] != first.media_id
    assert sum(sandbox.publish_calls().values()) == 2


@pytest.fixture
def graph_env(tmp_path: Path) -> Iterator[Env]:
    yield from open_env(tmp_path)


def add_job(env: Env, name: str, text: str) -> tuple[str, Draft]:
    loaded = drafts.load(write_draft(env.config, "post", name, text), env.config)
    assert loaded.draft is not None, loaded.problems
    draft = loaded.draft
    job = Job(draft=draft.rel, account=draft.account, type=draft.type, scheduled_for=T0)
    return env.rt.store.add(job).id, draft


def test_reconciliation_never_binds_a_post_another_job_holds(graph_env: Env) -> None:
    # Two drafts with the same caption. The second one's media_publish answer is lost, and
    # the listing does not show its post yet (Meta's listing lags): the only post with that
    # caption is the first job's. Taking it would be a guess, and a wrong one.
    env = graph_env
    text = "type: post\ncaption: Same words\nmedia: [sunrise.jpg]\n"
    first_id, first_draft = add_job(env, "one.yaml", text)
    second_id, second_draft = add_job(env, "two.yaml", text)
    first = publishing.publish(env.rt, first_id, first_draft)
    assert first.state is State.PUBLISHED
    env.fake.publish_effects = ["lost"]
    env.fake.listing_answer = httpx.Response(200, json={"data": [env.fake.posts[0]]})

    second = publishing.publish(env.rt, second_id, second_draft)

    assert second.state is State.UNCONFIRMED
    assert second.media_id is None
    assert env.fake.calls("publish") == 2


# --- a throttling answer to media_publish -----------------------------------------------------


def test_a_throttled_publish_is_checked_before_it_is_sent_again(graph_env: Env) -> None:
    # Meta answers media_publish with code 4 after the post went out (postiz #1681 saw that
    # with a subcode; LESSONS: "answered with an error after the post went live"). The next
    # attempt must ask the container first, not re-POST a container it last saw FINISHED.
    env = graph_env
    throttled = graph_error(400, 4, None, "Application request limit reached")
    [route] = [r for r in env.router.routes if "media_publish" in repr(r.pattern)]

    def commit_then_throttle(request: httpx.Request) -> httpx.Response:
        answer = env.fake.publish(request)
        return throttled if env.fake.calls("publish") == 1 else answer

    route.side_effect = commit_then_throttle
    job_id, draft = add_job(env, "post.yaml", "type: post\ncaption: Hi\nmedia: [sunrise.jpg]\n")

    job = publishing.publish(env.rt, job_id, draft)
    assert job.state is State.RETRYING
    assert job.next_attempt_at is not None
    env.time.now = job.next_attempt_at
    job = publishing.publish(env.rt, job_id, draft)

    [post] = env.fake.posts
    assert job.state is State.PUBLISHED, job.error
    assert job.media_id == post["id"]
    assert env.fake.calls("publish") == 1


# --- a client that drops the connection to our media server ----------------------------------


class _Served:
    """One of our two HTTP servers, started on a free loopback port."""

    def __init__(self, kind: str, root: Path) -> None:
        self.sandbox: SandboxServer | None = None
        self.media: mediahost.ServeHost | None = None
        if kind == "sandbox":
            self.sandbox = SandboxServer()
            self.sandbox.start()
            self.port = self.sandbox.port
        else:
            (root / "content").mkdir()
            self.media = mediahost.ServeHost(
                content_dir=root / "content",
                state_dir=root,
                listen=("127.0.0.1", 0),
                public_url="http://127.0.0.1:0",
                link_ttl=timedelta(hours=1),
            )
            self.media.start()
            self.port = self.media.port

    def stop(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
        if self.media is not None:
            self.media.stop()


@pytest.mark.parametrize(
    ("kind", "logger"), [("media", "publisher.hosting.mediahost"), ("sandbox", "publisher.sandbox")]
)
def test_a_dropped_connection_prints_no_traceback(
    kind: str,
    logger: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The media host faces the internet (Meta's fetcher, scanners); a client that resets
    # the connection made socketserver print a raw traceback on stderr: the user's terminal
    # during `publisher publish`, the journal under systemd, bypassing the log filter.
    caplog.set_level(logging.DEBUG, logger=logger)
    served = _Served(kind, tmp_path)
    try:
        client = socket.create_connection(("127.0.0.1", served.port))
        client.sendall(b"GET /m/1")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # linger 0: a reset, not a close
        err = ""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # until the server has handled it, one way or other
            err += capfd.readouterr().err
            if "Traceback" in err or any("dropped" in r.getMessage() for r in caplog.records):
                break
            time.sleep(0.01)
    finally:
        served.stop()
    assert "Traceback" not in err + capfd.readouterr().err
    assert any("dropped its connection" in record.getMessage() for record in caplog.records)


# --- a draft renamed after an interrupted run -----------------------------------------------


def test_a_draft_renamed_after_an_interrupted_run_keeps_its_job(
    site: Config, sandbox: SandboxServer, fake_time: FakeTime
) -> None:
    # The run is interrupted after the post went out, before the status block says so; the
    # user renames the file and publishes it again: it is the same draft, not a new one.
    def progress(text: str) -> None:
        if text.startswith("published: media"):
            raise BrokenPipeError(32, "Broken pipe")

    path = write_draft(site, "post")
    with pytest.raises(BrokenPipeError):
        publish_now(site, path, fake_time, progress)
    renamed = path.rename(path.with_name("renamed.yaml"))

    job = publish_now(site, renamed, fake_time, lambda _text: None)

    assert job.state is State.PUBLISHED
    assert job.draft == "renamed.yaml"
    assert len(sandbox.posts()) == 1
    assert [j.draft for j in jobstore.read_jobs(site.state_dir)] == ["renamed.yaml"]
