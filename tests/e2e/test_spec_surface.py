"""The user contract (SPEC.md, README) checked from outside: the installed `publisher` console
script run in subprocesses on a site made by `publisher init`, exactly as a user or an outside
test would drive it. Nothing here imports publisher's code.

Every site gets a free media port (the starter listens on 127.0.0.1:8765), a 100 ms container
poll interval, no PUBLISHER_* variable from the caller, and HTTP(S) proxies that lead nowhere
except for loopback: a sandbox run that reached out to the network would fail.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from tests.support.ports import free_port
from tests.support.processes import DaemonProcess, clean_env
from tests.support.wait import wait_for

pytestmark = pytest.mark.slow

COMMANDS = (
    "run",
    "validate",
    "status",
    "plan",
    "publish",
    "retry",
    "cancel",
    "accounts",
    "sandbox",
    "init",
)
STATUS_FIELDS = [
    "state",
    "scheduled_for",
    "attempts",
    "media_id",
    "permalink",
    "comment_id",  # SPEC §8: null unless the draft's first comment was made
    "published_at",
    "error",
    "updated_at",
]
JSON_KEYS = {
    "draft",
    "account",
    "type",
    "state",
    "scheduled_for",
    "attempts",
    "permalink",
    "error",
    "media_id",
    "api_calls",
}
PROBLEM_LINE = re.compile(r"^(?P<path>[^:]+): (?P<field>[^:]+): (?P<message>.+)$")
ZONE = ZoneInfo("Europe/Paris")  # the starter config's timezone
POLL = 0.1  # seconds between two looks while waiting: a look may run a command


def _executable() -> str:
    beside = Path(sys.executable).with_name("publisher")
    found = str(beside) if beside.exists() else shutil.which("publisher")
    assert found, "the `publisher` console script is not installed"
    return found


PUBLISHER = _executable()


def cli(
    *args: str | Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 30,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PUBLISHER, *map(str, args)],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def status_block(draft: Path) -> dict[str, Any]:
    """The draft's `status:` block, keys in file order."""
    lines = draft.read_text(encoding="utf-8").splitlines()
    block = yaml.safe_load("\n".join(lines[lines.index("status:") :]))
    assert isinstance(block, dict) and isinstance(block["status"], dict), block
    return block["status"]


def raw_status_times(draft: Path) -> dict[str, str]:
    text = draft.read_text(encoding="utf-8")
    pattern = r"^  (scheduled_for|published_at|updated_at): (\S+)\r?$"
    return dict(re.findall(pattern, text, flags=re.MULTILINE))


def assert_in_zone(text: str, zone: ZoneInfo) -> None:
    """An aware ISO 8601 time whose offset is the zone's at that moment."""
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    assert moment.utcoffset() == moment.astimezone(zone).utcoffset(), text


def status_json(site: Path, env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    result = cli("status", "--json", cwd=site, env=env)
    assert result.returncode == 0, result.stderr
    return {item["draft"]: item for item in json.loads(result.stdout)}


def state_of(site: Path, draft: str) -> str | None:
    item = status_json(site).get(draft)
    return item["state"] if item else None


def write_draft(path: Path, text: str) -> None:
    """Write a draft the way an editor's atomic save does (a hidden temp file, renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)


# --- sites ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def starter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `publisher init`, copied for each site (init itself is tested below)."""
    root = tmp_path_factory.mktemp("starter")
    result = cli("init", "site", cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "site"


def make_site(starter: Path, target: Path) -> Path:
    shutil.copytree(starter, target)
    config = target / "config.yaml"
    text = config.read_text(encoding="utf-8")
    assert "127.0.0.1:8765" in text and "poll_interval: 3s" in text
    text = text.replace("127.0.0.1:8765", f"127.0.0.1:{free_port()}")
    config.write_text(text.replace("poll_interval: 3s", "poll_interval: 100ms"), encoding="utf-8")
    return target


@pytest.fixture
def site(starter: Path, tmp_path: Path) -> Path:
    return make_site(starter, tmp_path / "site")


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working folder that is not the site's: relative paths must not depend on it."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def edit_config(site: Path, old: str, new: str) -> None:
    config = site / "config.yaml"
    text = config.read_text(encoding="utf-8")
    assert old in text, old
    config.write_text(text.replace(old, new, 1), encoding="utf-8")


# --- §2 the command line -------------------------------------------------------------------


def test_console_script_and_python_dash_m_are_the_same_program(tmp_path: Path) -> None:
    script = cli("--help", cwd=tmp_path)
    module = subprocess.run(
        [sys.executable, "-m", "publisher", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
    )
    assert script.returncode == module.returncode == 0
    assert script.stdout.replace("__main__.py", "publisher") == module.stdout.replace(
        "__main__.py", "publisher"
    )
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\b", script.stdout, flags=re.MULTILINE), command


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        [],
        ["publish"],
        ["retry"],
        ["status", "--colour"],
        ["sandbox", "--port", "x"],
    ],
)
def test_usage_errors_exit_2(args: list[str], tmp_path: Path) -> None:
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    no_traceback(result)


@pytest.mark.parametrize(
    "args",
    [
        ["run"],
        ["validate"],
        ["status"],
        ["status", "--json"],
        ["plan"],
        ["publish", "x.yaml"],
        ["retry", "x.yaml"],
        ["cancel", "x.yaml"],
        ["accounts"],
    ],
)
def test_every_command_reads_the_config_named_by_dash_c(args: list[str], tmp_path: Path) -> None:
    result = cli(*args, "-c", "nowhere/config.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "nowhere/config.yaml" in result.stderr
    no_traceback(result)


@pytest.mark.parametrize(
    ("where", "args", "env"),
    [
        ("elsewhere", ["-c", "{config}", "validate"], {}),
        ("elsewhere", ["validate", "--config", "{config}"], {}),
        ("elsewhere", ["validate", "--config={config}"], {}),
        ("elsewhere", ["validate"], {"PUBLISHER_CONFIG": "{config}"}),
        ("elsewhere", ["validate", "-c", "{config}"], {"PUBLISHER_CONFIG": "nowhere.yaml"}),
        ("site", ["validate"], {}),
    ],
)
def test_where_the_config_comes_from(
    where: str, args: list[str], env: dict[str, str], site: Path, elsewhere: Path
) -> None:
    config = str(site / "config.yaml")
    cwd = site if where == "site" else elsewhere
    filled = {key: value.format(config=config) for key, value in env.items()}
    result = cli(*(a.format(config=config) for a in args), cwd=cwd, env=clean_env(**filled))
    assert result.returncode == 0, result.stderr


def test_init_writes_a_starter_into_the_working_folder_by_default(tmp_path: Path) -> None:
    result = cli("init", "-c", "ignored.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "config.yaml").is_file()
    assert (tmp_path / "systemd" / "publisher.service").is_file()
    drafts = sorted((tmp_path / "content").glob("*.yaml"))
    types = {yaml.safe_load(d.read_text(encoding="utf-8"))["type"] for d in drafts}
    assert types == {"post", "carousel", "reel", "story"}

    before = (tmp_path / "config.yaml").read_bytes()
    (tmp_path / "config.yaml").write_bytes(before + b"# mine\n")
    again = cli("init", cwd=tmp_path)
    assert again.returncode == 1
    assert "config.yaml" in again.stderr
    assert (tmp_path / "config.yaml").read_bytes() == before + b"# mine\n"
    no_traceback(again)


def test_validate_passes_the_starter_with_a_draft_of_each_type(site: Path) -> None:
    result = cli("validate", cwd=site)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        ("unknown.yaml", "type: post\nmedia: [sunrise.jpg]\nbogus: 1\n", "bogus"),
        ("nomedia.yaml", "type: post\nmedia: [missing.jpg]\n", "media[0]"),
        ("account.yaml", "type: post\naccount: nobody\nmedia: [sunrise.jpg]\n", "account"),
        ("count.yaml", "type: carousel\nmedia: [sunrise.jpg]\n", "media"),
        ("outside.yaml", "type: post\nmedia: [../config.yaml]\n", "media[0]"),
        ("list.yaml", "- type: post\n", "-"),
        ("syntax.yaml", "type: post\nmedia: [sunrise.jpg\n", None),
    ],
)
def test_validate_prints_path_field_message_and_exits_1(
    name: str, text: str, field: str | None, site: Path
) -> None:
    (site / "content" / name).write_text(text, encoding="utf-8")
    result = cli("validate", cwd=site)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines, result.stderr
    for line in lines:
        match = PROBLEM_LINE.match(line)
        assert match, f"not `path: field: message`: {line!r}"
        assert match["path"] == f"content/{name}"
        assert field is None or match["field"] == field, line
    no_traceback(result)


def test_validate_checks_only_the_drafts_named(site: Path) -> None:
    (site / "content" / "bad.yaml").write_text("type: post\n", encoding="utf-8")
    (site / "content" / "link.yaml").symlink_to("01-post.yaml")
    assert cli("validate", "content/01-post.yaml", cwd=site).returncode == 0
    assert cli("validate", "01-post.yaml", cwd=site).returncode == 0  # as `status` names it
    missing = cli("validate", "content/nothing.yaml", cwd=site)
    assert missing.returncode == 1
    assert PROBLEM_LINE.match(missing.stdout.strip()), missing.stdout
    link = cli("validate", "content/link.yaml", cwd=site)  # a link to a draft posts twice
    assert link.returncode == 1
    assert link.stdout.startswith("content/link.yaml: "), link.stdout


def test_plan_shows_local_times_with_the_zone_and_warnings(site: Path) -> None:
    content = site / "content"
    (content / "naive.yaml").write_text(
        "type: post\nmedia: [sunrise.jpg]\npublish_at: 2030-06-01 09:00\n", encoding="utf-8"
    )
    (content / "old.yaml").write_text(
        "type: post\nmedia: [sunrise.jpg]\npublish_at: 2020-01-01 09:00\n", encoding="utf-8"
    )
    for index in range(101):  # one more than the 24 h quota, all at once
        (content / f"q{index:03}.yaml").write_text(
            "type: story\nmedia: [story.jpg]\npublish_at: now\n", encoding="utf-8"
        )
    result = cli("plan", cwd=site)
    assert result.returncode == 0, result.stderr
    assert "Europe/Paris" in result.stdout
    assert re.search(r"2030-06-01 09:00 CEST \(\+02:00\).*naive\.yaml", result.stdout)
    warnings = result.stdout.split("Warnings", 1)[1]
    assert "old.yaml" in warnings and "missed" in warnings
    assert "quota" in warnings

    env = clean_env(PUBLISHER_TIMEZONE="America/New_York")
    other = cli("plan", cwd=site, env=env)
    assert re.search(r"2030-06-01 09:00 EDT \(-04:00\).*naive\.yaml", other.stdout)


def test_accounts_reports_the_sandbox_account_and_a_real_one_without_token(site: Path) -> None:
    result = cli("accounts", cwd=site)
    assert result.returncode == 0, result.stdout + result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("main "))
    assert "valid" in row and re.search(r"\d+/\d+", row), row

    edit_config(
        site,
        "media:",
        'live:\n    api: instagram\n    ig_user_id: "17841400000000009"\n\nmedia:',
    )
    text = (site / "config.yaml").read_text(encoding="utf-8")
    (site / "config.yaml").write_text(text.replace("\nlive:", "\n  live:"), encoding="utf-8")
    result = cli("accounts", cwd=site)
    assert result.returncode == 1
    assert "INVALID" in result.stdout
    assert "PUBLISHER_ACCOUNTS__LIVE__ACCESS_TOKEN" in result.stdout
    no_traceback(result)


def test_status_watch_ends_with_ctrl_c_and_exit_0(site: Path) -> None:
    process = subprocess.Popen(
        [PUBLISHER, "status", "--watch"],
        cwd=site,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "no jobs yet" in process.stdout.readline()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()


# --- §3 config.yaml ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("timezone:", "colour: red\ntimezone:", "colour"),
        ("publishing:\n", "publishing:\n  speed: 2\n", "publishing.speed"),
        ("    api_version:", "    tokn: x\n    api_version:", "accounts.main.tokn"),
        ("timezone: Europe/Paris", "timezone: Mars/Olympus", "timezone"),
        ("backoff: 5s", "backoff: 5", "publishing.backoff"),
        ("api: sandbox", "api: twitter", "accounts.main.api"),
        ("days: mon-fri", "days: funday", "schedule.slots.0.days"),
    ],
)
def test_unknown_keys_and_bad_values_exit_2_naming_the_key(
    old: str, new: str, named: str, site: Path
) -> None:
    edit_config(site, old, new)
    result = cli("validate", cwd=site)
    assert result.returncode == 2
    assert result.stdout == ""
    shown = result.stderr.replace("[", ".").replace("]", "")
    assert named in shown, result.stderr
    assert "config.yaml" in result.stderr
    no_traceback(result)


def test_environment_overrides_the_file_at_any_depth(site: Path) -> None:
    due = (datetime.now(ZONE) - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")
    (site / "content" / "late.yaml").write_text(
        f"type: post\nmedia: [sunrise.jpg]\npublish_at: {due}\n", encoding="utf-8"
    )
    plain = cli("plan", cwd=site)
    assert re.search(r"late\.yaml.*missed", plain.stdout), plain.stdout  # misfire_grace: 1h
    graced = cli("plan", cwd=site, env=clean_env(PUBLISHER_SCHEDULE__MISFIRE_GRACE="1d"))
    assert re.search(r"late\.yaml.*goes out late", graced.stdout), graced.stdout
    zoned = cli("plan", cwd=site, env=clean_env(PUBLISHER_TIMEZONE="UTC"))
    assert "times in UTC" in zoned.stdout

    bad = cli("validate", cwd=site, env=clean_env(PUBLISHER_PUBLISHING__ATTEMPTS="lots"))
    assert bad.returncode == 2
    assert "publishing.attempts" in bad.stderr
    assert "PUBLISHER_PUBLISHING__ATTEMPTS" in bad.stderr


def test_relative_paths_are_relative_to_the_config_file(site: Path, elsewhere: Path) -> None:
    (site / "content" / "bad.yaml").write_text("type: post\n", encoding="utf-8")
    result = cli("-c", site / "config.yaml", "validate", cwd=elsewhere)
    assert result.returncode == 1
    assert "bad.yaml" in result.stdout
    edit_config(site, "state_dir: state", "state_dir: var/state")
    draft = site / "content" / "01-post.yaml"
    cancel = cli("-c", site / "config.yaml", "cancel", draft, cwd=elsewhere)
    assert cancel.returncode == 0  # the store was opened where the config says
    assert (site / "var" / "state" / "jobs.json").is_file()
    assert not (elsewhere / "var").exists()


class _FakeGraph(http.server.BaseHTTPRequestHandler):
    """A Graph API host that knows every answer `publisher accounts` asks for, and keeps
    the Authorization headers it was sent."""

    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        body = json.dumps(
            {
                "id": "17841400000000001",
                "username": "tokencheck",
                "data": [{"quota_usage": 3, "config": {"quota_total": 100}}],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_graph() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (_FakeGraph,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("source", ["environment", "relative file", "absolute file", "systemd"])
def test_a_token_is_read_from_each_documented_place(
    source: str, site: Path, elsewhere: Path, fake_graph: tuple[str, list[str]]
) -> None:
    url, seen = fake_graph
    token = f"EAAtoken{source.replace(' ', '')}123"
    env: dict[str, str] = {}
    extra = ""
    if source == "environment":
        env["PUBLISHER_ACCOUNTS__LIVE__ACCESS_TOKEN"] = token
    elif source == "relative file":
        (site / "secrets").mkdir()
        (site / "secrets" / "live-token").write_text(token + "\n", encoding="utf-8")
        extra = "\n    access_token_file: secrets/live-token"
    elif source == "absolute file":
        (elsewhere / "t").write_text(token, encoding="utf-8")
        extra = f"\n    access_token_file: {elsewhere / 't'}"
    else:
        credentials = elsewhere / "credentials"
        credentials.mkdir()
        (credentials / "live-token").write_text(token, encoding="utf-8")
        env["CREDENTIALS_DIRECTORY"] = str(credentials)
    edit_config(
        site,
        "\nmedia:",
        f'  live:\n    api: facebook\n    ig_user_id: "17841400000000001"\n'
        f"    base_url: {url}{extra}\n\nmedia:",
    )
    result = cli("-c", site / "config.yaml", "accounts", cwd=elsewhere, env=clean_env(**env))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^live\s+facebook\s+valid\s+tokencheck", result.stdout, re.MULTILINE)
    assert seen and set(seen) == {f"Bearer {token}"}
    assert token not in result.stdout + result.stderr


# --- §4, §5, §6: publishing a draft --------------------------------------------------------

COMMENTED = """\
# my launch post   (a comment, odd spacing)

type:   post        # trailing comment
caption: 'Single "quoted" caption #one'

media:
  - ../sunrise.jpg
alt_text: "double"
publish_at: now
"""


TOKEN = "EAAsecretTOKEN0123456789"


@pytest.mark.parametrize(
    ("name", "data", "token"),
    [
        ("sub/commented.yaml", COMMENTED.encode(), None),
        ("crlf.yaml", b"type: post\r\nmedia: [sunrise.jpg]\r\n# note\r\ncaption: hi\r\n", TOKEN),
    ],
)
def test_publish_writes_the_status_block_and_nothing_else(
    name: str, data: bytes, token: str | None, site: Path, elsewhere: Path
) -> None:
    draft = site / "content" / name
    draft.parent.mkdir(parents=True, exist_ok=True)
    draft.write_bytes(data)
    draft.chmod(0o640)
    config = site / "config.yaml"
    env = clean_env(PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN=token) if token else clean_env()

    result = cli("-c", config, "publish", draft, cwd=elsewhere, env=env)  # no network
    assert result.returncode == 0, result.stdout + result.stderr
    if token:  # never in the output, a draft or the state directory
        assert token not in result.stdout + result.stderr
        for path in site.rglob("*"):
            assert not path.is_file() or token.encode() not in path.read_bytes(), path
    assert len(result.stdout.splitlines()) >= 3  # each step is shown

    after = draft.read_bytes()
    assert after.startswith(data)
    assert after[len(data) :].lstrip(b"\r\n").startswith(b"status:")
    assert stat.S_IMODE(draft.stat().st_mode) == 0o640
    status = status_block(draft)
    assert list(status) == STATUS_FIELDS
    assert status["state"] == "published"
    assert status["attempts"] == 1 and status["error"] is None
    assert re.fullmatch(r"\d+", str(status["media_id"]))
    assert str(status["permalink"]).startswith("https://")
    times = raw_status_times(draft)
    assert set(times) == {"scheduled_for", "published_at", "updated_at"}
    for text in times.values():
        assert_in_zone(text, ZONE)
    assert (site / "state" / "jobs.json").is_file() and not (elsewhere / "state").exists()

    items = json.loads(cli("-c", config, "status", "--json", cwd=elsewhere).stdout)
    assert len(items) == 1 and set(items[0]) == JSON_KEYS
    assert items[0]["draft"] == name and items[0]["type"] == "post"
    assert items[0]["account"] == "main" and items[0]["state"] == "published"
    assert items[0]["permalink"] == status["permalink"]
    assert items[0]["media_id"] == str(status["media_id"])
    assert isinstance(items[0]["api_calls"], list) and items[0]["api_calls"]
    assert "sandbox-token" not in json.dumps(items)

    again = cli("-c", config, "publish", draft, cwd=elsewhere)
    assert again.returncode == 1
    assert "published" in again.stderr
    assert draft.read_bytes() == after
    no_traceback(again)


def test_sandbox_command_serves_the_graph_api_on_the_port_given(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [PUBLISHER, "-c", "ignored.yaml", "sandbox", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert f"http://127.0.0.1:{port}" in process.stdout.readline()
        answer = httpx.get(f"http://127.0.0.1:{port}/_sandbox/posts", timeout=5)
        assert answer.status_code == 200 and answer.json() == []
        busy = cli("sandbox", "--port", str(port), cwd=tmp_path)
        assert busy.returncode == 2 and str(port) in busy.stderr
        no_traceback(busy)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()


# --- the daemon ----------------------------------------------------------------------------

INVALID = "type: reel\naccount: nobody\nmedia: [sunrise.jpg, missing.mp4]\nbogus: 1\n"


class Daemon(DaemonProcess):
    """`publisher run` in a subprocess on `site`; its log goes to site/daemon.log."""

    def __init__(self, site: Path) -> None:
        self.site = site
        super().__init__([PUBLISHER, "run"], cwd=site, log=site / "daemon.log")

    def wait_state(self, draft: str, state: str, timeout: float = 15) -> dict[str, Any]:
        """Poll `status --json` until the draft's job is in `state` (for `published`: with
        its permalink, which is read just after the media id is recorded)."""

        def reached() -> dict[str, Any] | None:
            assert self.alive(), self.log.read_text()
            item = status_json(self.site).get(draft)
            if not item or item["state"] != state:
                return None
            return item if state != "published" or item["permalink"] else None

        return wait_for(reached, timeout=timeout, every=POLL, what=f"{draft} {state}")


@pytest.fixture(scope="module")
def running(starter: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    site = make_site(starter, tmp_path_factory.mktemp("daemon") / "site")
    content = site / "content"
    (content / "old.yaml").write_text(
        "type: post\nmedia: [sunrise.jpg]\npublish_at: 2020-01-01 09:00\n", encoding="utf-8"
    )
    (content / "naive.yaml").write_text(
        "type: post\nmedia: [sunrise.jpg]\npublish_at: 2030-06-01 09:00\n", encoding="utf-8"
    )
    now = "type: post\nmedia: [sunrise.jpg]\npublish_at: now\n"
    (content / "locked.yaml").write_text(now + "platforms: [facebook]\n", encoding="utf-8")
    (content / "paused.yaml").write_text(now + "paused: true\n", encoding="utf-8")
    (content / "_ignored.yaml").write_text(now, encoding="utf-8")
    (content / ".hidden.yaml").write_text(now, encoding="utf-8")
    daemon = Daemon(site)
    try:
        yield daemon
    finally:
        daemon.stop()


def test_daemon_publishes_now_drafts_and_schedules_the_rest(running: Daemon, starter: Path) -> None:
    for draft in ("01-post.yaml", "04-story.yaml"):
        item = running.wait_state(draft, "published")
        assert item["permalink"].startswith("https://")
    jobs = status_json(running.site)
    assert jobs["02-carousel.yaml"]["state"] == "scheduled"
    assert jobs["03-reel.yaml"]["state"] == "scheduled"
    assert jobs["old.yaml"]["state"] == "missed"
    assert jobs["locked.yaml"]["state"] == "locked"
    assert jobs["paused.yaml"]["state"] == "paused"
    assert "_ignored.yaml" not in jobs and ".hidden.yaml" not in jobs
    naive = running.site / "content" / "naive.yaml"
    assert raw_status_times(naive)["scheduled_for"] == "2030-06-01T09:00:00+02:00"

    post = running.site / "content" / "01-post.yaml"
    original = (starter / "content" / "01-post.yaml").read_bytes()
    assert post.read_bytes().startswith(original)
    assert list(status_block(post)) == STATUS_FIELDS
    for text in raw_status_times(post).values():
        assert_in_zone(text, ZONE)


def test_editing_a_published_draft_never_publishes_it_again(running: Daemon) -> None:
    draft = running.site / "content" / "04-story.yaml"
    before = status_json(running.site)["04-story.yaml"]
    assert before["state"] == "published"
    text = draft.read_text(encoding="utf-8")
    write_draft(draft, text.replace("# A story", "# An edited story"))
    wait_for(
        lambda: status_block(draft).get("error"), every=POLL, what="a sentence in status.error"
    )
    after = status_json(running.site)["04-story.yaml"]
    assert after["state"] == "published" and after["media_id"] == before["media_id"]
    assert status_block(draft)["state"] == "published"


def test_daemon_publishes_a_now_draft_dropped_in_within_seconds(running: Daemon) -> None:
    draft = running.site / "content" / "new" / "dropped.yaml"
    write_draft(draft, "type: post\nmedia: [../sunrise.jpg]\npublish_at: now\n")
    running.wait_state("new/dropped.yaml", "published", timeout=10)
    assert status_block(draft)["state"] == "published"


def test_daemon_marks_an_invalid_draft_with_every_problem(running: Daemon) -> None:
    draft = running.site / "content" / "broken.yaml"
    write_draft(draft, INVALID)
    expected = cli("validate", "content/broken.yaml", cwd=running.site).stdout.splitlines()
    assert len(expected) >= 3
    running.wait_state("broken.yaml", "invalid", timeout=10)
    error = wait_for(lambda: status_block(draft).get("error"), every=POLL, what="status.error")
    for line in expected:
        match = PROBLEM_LINE.match(line)
        assert match, line
        assert match["message"] in error, (match["message"], error)


def test_status_and_plan_work_while_the_daemon_runs(running: Daemon) -> None:
    assert cli("status", cwd=running.site).returncode == 0
    assert cli("plan", cwd=running.site).returncode == 0


def test_a_second_daemon_or_a_publish_is_refused_while_one_runs(running: Daemon) -> None:
    second = cli("run", cwd=running.site)
    assert second.returncode == 2
    assert str(running.process.pid) in second.stderr
    no_traceback(second)
    publish = cli("publish", "content/02-carousel.yaml", cwd=running.site)
    assert publish.returncode != 0
    assert str(running.process.pid) in publish.stderr
    no_traceback(publish)


def test_cancel_and_retry_go_through_the_running_daemon(running: Daemon) -> None:
    cancel = cli("cancel", "02-carousel.yaml", cwd=running.site)  # as `status` names it
    assert cancel.returncode == 0, cancel.stderr
    running.wait_state("02-carousel.yaml", "cancelled")
    retry = cli("retry", "content/02-carousel.yaml", cwd=running.site)
    assert retry.returncode == 0, retry.stderr
    running.wait_state("02-carousel.yaml", "scheduled")

    missed = cli("retry", "content/old.yaml", cwd=running.site)
    assert missed.returncode == 0, missed.stderr
    running.wait_state("old.yaml", "published", timeout=10)


def test_sighup_reloads_the_config_and_the_daemon_keeps_running(running: Daemon) -> None:
    edit_config(running.site, "timezone: Europe/Paris", "timezone: UTC")
    running.process.send_signal(signal.SIGHUP)
    naive = running.site / "content" / "naive.yaml"
    wait_for(
        lambda: raw_status_times(naive).get("scheduled_for") == "2030-06-01T09:00:00+00:00",
        what="naive.yaml re-planned in UTC",
        timeout=10,
        every=POLL,
    )
    assert running.alive()

    # A config that does not validate is reported (naming the key) and the old one kept.
    config = running.site / "config.yaml"
    good = config.read_text(encoding="utf-8")
    config.write_text(good + "colour: red\n", encoding="utf-8")
    running.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "colour" in running.log.read_text(), every=POLL, what="the bad key in the log")
    assert running.alive()
    config.write_text(good, encoding="utf-8")


def test_a_saved_config_is_picked_up_without_sighup(running: Daemon) -> None:
    edit_config(running.site, "timezone: UTC", "timezone: America/New_York")
    naive = running.site / "content" / "naive.yaml"
    wait_for(
        lambda: raw_status_times(naive).get("scheduled_for") == "2030-06-01T09:00:00-04:00",
        what="naive.yaml re-planned in New York",
        timeout=10,
        every=POLL,
    )


def test_sigterm_stops_the_daemon_with_exit_0(running: Daemon) -> None:
    assert running.alive()
    assert running.stop(signal.SIGTERM) == 0


def test_cancel_and_retry_work_without_the_daemon(running: Daemon) -> None:
    assert not running.alive()
    site = running.site
    assert cli("cancel", "content/03-reel.yaml", cwd=site).returncode == 0
    assert status_block(site / "content" / "03-reel.yaml")["state"] == "cancelled"
    assert status_json(site)["03-reel.yaml"]["state"] == "cancelled"
    assert cli("retry", "content/03-reel.yaml", cwd=site).returncode == 0
    assert status_block(site / "content" / "03-reel.yaml")["state"] == "scheduled"
    refused = cli("cancel", "content/01-post.yaml", cwd=site)  # published is final
    assert refused.returncode == 1
    no_traceback(refused)


def test_sigint_stops_the_daemon_with_exit_0(starter: Path, tmp_path: Path) -> None:
    site = make_site(starter, tmp_path / "site")
    daemon = Daemon(site)
    try:
        daemon.wait_state("01-post.yaml", "published")
    finally:
        code = daemon.stop(signal.SIGINT)
    assert code == 0
