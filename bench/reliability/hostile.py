"""A corpus of hostile drafts and configs, grown with hypothesis (derandomized: the same
corpus every run): YAML shapes (wrong types, nesting, anchors, tags, several documents,
BOM, CRLF, cut short), paths (.., absolute, NUL, links out, folders, huge), media (missing,
a text file named .jpg, empty, a video where an image goes), captions (control characters,
over 2,200 characters, too many hashtags), and config.yaml documents with one or two keys
made hostile.

Each goes through `publisher validate` (in this process, through cli.main: the command's
own exit status and output) with a folder outside content_dir next to the site. Judged:
exit status as SPEC §2 says (drafts 1, config errors 2; 0 only for what is valid), no
traceback or "internal error", a draft's problem printed as `path: field: message` naming
its file, a config's naming config.yaml, nothing outside content_dir changed. Then the
daemon (in this process) takes the whole draft corpus at once: it must not stop, and must
change nothing outside content_dir."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bench.reliability.common import Row, workdir
from publisher import cli
from publisher.sandbox.server import SandboxServer
from tests.support.clock import ManualClock
from tests.support.daemon import open_daemon, settle
from tests.support.paths import REPO
from tests.support.site import load_config, make_site

DRAFTS, CONFIGS = 170, 60

# --- drafts ----------------------------------------------------------------------------

PATHS = st.one_of(
    st.sampled_from(
        [
            "../outside/secret.jpg",
            "/etc/passwd",
            "..",
            "sub/../../outside/secret.jpg",
            "a\x00b.jpg",
            "~/x.jpg",
            "C:\\x.jpg",
            "%2e%2e/x.jpg",
            "link-out.jpg",
            "fake.jpg",
            "empty.jpg",
            "dir.jpg",
            "clip.mp4",
            "sunrise.jpg",
            "",
            " ",
            "x" * 300 + ".jpg",
            "sunrise.jpg/..",
            "./sunrise.jpg",
            "ünï.jpg",
            "\u202ejpg.exe",
            "sunrise.JPG",
            "missing.jpg",
            "content/sunrise.jpg",
            "file:///etc/passwd",
            "http://example.com/x.jpg",
        ]
    ),
    st.text(min_size=1, max_size=20),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
ANY_VALUE = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
CAPTIONS = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80),
    st.just("x" * 2300),
    st.just(" ".join(f"#tag{n}" for n in range(40))),
    st.just(" ".join(f"@user{n}" for n in range(25))),
    st.text(alphabet="\x01\x07\x1b\u200b\u2028\ufeff a", max_size=40),
)
FIELDS = {
    "type": st.one_of(
        st.sampled_from(["post", "carousel", "reel", "story", "POST", "video", ""]), ANY_VALUE
    ),
    "media": st.one_of(st.lists(PATHS, max_size=12), PATHS, ANY_VALUE),
    "caption": st.one_of(CAPTIONS, ANY_VALUE),
    "publish_at": st.one_of(
        st.sampled_from(
            [
                "2026-03-29 02:30",
                "9999-12-31 23:59",
                "yesterday",
                "2026-13-01",
                "2026-12-01T09:00:00+25:00",
                "0001-01-01",
                "2026-02-30 10:00",
            ]
        ),
        ANY_VALUE,
    ),
    "cover": st.one_of(PATHS, ANY_VALUE),
    "thumb_offset": st.one_of(st.integers(-(10**12), 10**12), ANY_VALUE),
    "collaborators": st.one_of(st.lists(st.text(max_size=40), max_size=8), ANY_VALUE),
    "location_id": ANY_VALUE,
    "alt_text": st.one_of(st.text(max_size=3000), ANY_VALUE),
    "account": st.one_of(st.sampled_from(["main", "nobody", "../main", ""]), ANY_VALUE),
    "first_comment": st.one_of(CAPTIONS, ANY_VALUE),
    "paused": ANY_VALUE,
    "platforms": st.one_of(st.lists(st.sampled_from(["instagram", "tiktok", ""])), ANY_VALUE),
    "share_to_feed": ANY_VALUE,
    "status": ANY_VALUE,
}
SHAPES = st.sampled_from(
    [
        "plain",
        "plain",
        "plain",
        "crlf",
        "bom",
        "cut",
        "two-docs",
        "anchor",
        "tag",
        "dup-key",
        "tabs",
        "flow",
        "directive",
    ]
)


@st.composite
def hostile_draft(draw: st.DrawFn) -> bytes:
    names = draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=8, unique=True))
    document: dict[Any, Any] = {name: draw(FIELDS[name]) for name in names}
    if draw(st.booleans()):
        document.setdefault("type", "post")
        document.setdefault("media", ["sunrise.jpg"])
    document.update(draw(st.dictionaries(st.text(max_size=10), ANY_VALUE, max_size=2)))
    shape = draw(SHAPES)
    try:
        text = yaml.safe_dump(
            document, allow_unicode=draw(st.booleans()), default_flow_style=shape == "flow"
        )
    except (yaml.YAMLError, UnicodeEncodeError):
        text = json.dumps(document, default=str)
    if shape == "crlf":
        text = text.replace("\n", "\r\n")
    elif shape == "bom":
        text = "\ufeff" + text
    elif shape == "cut":
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    elif shape == "two-docs":
        text += "---\ntype: story\nmedia: [story.jpg]\n"
    elif shape == "anchor":
        text = "base: &b {type: post, media: [sunrise.jpg]}\n<<: *b\n" + text
    elif shape == "tag":
        text += draw(
            st.sampled_from(
                [
                    "x: !!python/object/apply:os.system [true]\n",
                    "y: !include /etc/passwd\n",
                    "z: !!binary aGVsbG8=\n",
                ]
            )
        )
    elif shape == "dup-key":
        text += "type: reel\ntype: story\n"
    elif shape == "tabs":
        text = text.replace("  ", "\t")
    elif shape == "directive":
        text = "%YAML 1.1\n%TAG ! tag:evil.example,2026:\n---\n" + text
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        data = data.replace(b"e", b"\xff", 1)  # not UTF-8
    return data


# --- configs ---------------------------------------------------------------------------

CONFIG_CHANGES: dict[str, Any] = {
    "content_dir": st.one_of(
        st.sampled_from(
            [
                "missing-folder",
                "config.yaml",
                "",
                "../outside",
                "\x00",
                5,
                [],
                "content/../../outside",
            ]
        ),
        ANY_VALUE,
    ),
    "state_dir": st.one_of(
        st.sampled_from(["content", "config.yaml", "/proc/none", "", 7, "../outside/state"]),
        ANY_VALUE,
    ),
    "timezone": st.one_of(
        st.sampled_from(["Mars/Olympus", "UTC+25", "", "../../etc/passwd", "Europe/Berlin "]),
        ANY_VALUE,
    ),
    "accounts": st.one_of(
        st.just({}),
        st.just({"main": {"ig_user_id": "abc", "api": "sandbox"}}),
        st.just({"main": {"api": "graph-of-doom"}}),
        st.just({"../x": {"api": "sandbox", "ig_user_id": "1"}}),
        st.just(
            {
                "main": {
                    "api": "sandbox",
                    "ig_user_id": "1",
                    "access_token_file": "../outside/secret",
                }
            }
        ),
        ANY_VALUE,
    ),
    "schedule": st.one_of(
        st.just({"slots": [{"cron": "* * *"}]}),
        st.just({"slots": [{"days": "funday", "times": ["25:00"]}]}),
        st.just({"slots": [{"days": "mon", "times": []}]}),
        st.just({"slots": [{"cron": "0 9 * * *", "days": "mon"}]}),
        st.just({"misfire_grace": "-1h"}),
        ANY_VALUE,
    ),
    "publishing": st.one_of(
        st.just({"concurrency": 0}),
        st.just({"concurrency": 10**9}),
        st.just({"backoff": "soon"}),
        st.just({"prepare_ahead": "30h"}),
        st.just({"attempts": -1}),
        ANY_VALUE,
    ),
    "media": st.one_of(
        st.just({"host": "ftp"}),
        st.just({"host": "serve", "listen": "999.1.1.1:99999"}),
        st.just({"host": "s3"}),
        st.just({"host": "base_url"}),
        ANY_VALUE,
    ),
    "notify": ANY_VALUE,
    "unknown_key": ANY_VALUE,
}


@st.composite
def hostile_config(draw: st.DrawFn) -> bytes:
    document: Any = {
        "content_dir": "content",
        "state_dir": "state",
        "timezone": "UTC",
        "accounts": {"main": {"api": "sandbox", "ig_user_id": "17841400000000001"}},
        "media": {"host": "base_url", "public_url": "http://127.0.0.1:9"},
    }
    names = draw(
        st.lists(st.sampled_from(sorted(CONFIG_CHANGES)), min_size=1, max_size=2, unique=True)
    )
    for name in names:
        document[name] = draw(CONFIG_CHANGES[name])
    shape = draw(st.sampled_from(["yaml", "yaml", "yaml", "list", "cut", "binary", "anchor"]))
    try:
        text = yaml.safe_dump(document, allow_unicode=True).encode()
    except yaml.YAMLError:
        text = json.dumps(document, default=str).encode()
    if shape == "list":
        text = b"- " + text.replace(b"\n", b"\n  ")
    elif shape == "cut":
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    elif shape == "binary":
        text = draw(st.binary(min_size=1, max_size=60))
    elif shape == "anchor":
        text = b"a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n" + text
    return text


def grow(strategy: st.SearchStrategy[bytes], count: int) -> list[bytes]:
    corpus: list[bytes] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: bytes) -> None:
        corpus.append(example)

    collect()
    return corpus


# --- judging ---------------------------------------------------------------------------


def _validate(config_path: Path, *drafts: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(["-c", str(config_path), "validate", *map(str, drafts)], out=out)
        except SystemExit as exc:  # argparse
            status = int(exc.code or 0)
        except BaseException as exc:
            return -1, f"escaped: {exc!r}"
    return status, out.getvalue() + err.getvalue()


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def _prepare(root: Path) -> Path:
    config_path = make_site(
        root / "site", media={"host": "base_url", "public_url": "http://127.0.0.1:9"}
    )
    content = root / "site" / "content"
    outside = root / "outside"
    outside.mkdir()
    shutil.copyfile(REPO / "content" / "sunrise.jpg", outside / "secret.jpg")
    (outside / "secret").write_text("token")
    (content / "link-out.jpg").symlink_to(outside / "secret.jpg")
    (content / "fake.jpg").write_text("not an image")
    (content / "empty.jpg").write_bytes(b"")
    (content / "dir.jpg").mkdir()
    (content / "sub").mkdir()
    return config_path


def run(quick: bool) -> list[Row]:
    drafts_n, configs_n = (20, 10) if quick else (DRAFTS, CONFIGS)
    draft_corpus = grow(hostile_draft(), drafts_n)
    config_corpus = grow(hostile_config(), configs_n)
    with workdir("hostile") as root:
        config_path = _prepare(root)
        before = _digests(root / "outside")
        bad_drafts = _judge_drafts(config_path, draft_corpus)
        bad_configs = _judge_configs(root, config_corpus)
        logging.getLogger().setLevel(logging.CRITICAL)  # validate set up its own logging
        daemon_problem = _daemon_pass(config_path)
        changed = [p for p, d in before.items() if _digests(root / "outside").get(p) != d]
        changed += [p for p in _digests(root / "outside") if p not in before]
    unclear = len(bad_drafts) + len(bad_configs)
    passed = unclear == 0 and not changed and daemon_problem is None
    return [
        Row(
            key="hostile",
            scenario="hostile drafts and configs (hypothesis)",
            done=f"{len(draft_corpus)} drafts and {len(config_corpus)} config.yaml files through "
            "`publisher validate`; the drafts through the daemon at once",
            figure=f"unclear answers {unclear} (drafts {len(bad_drafts)}, configs "
            f"{len(bad_configs)}), outside files changed {len(changed)}, daemon "
            f"{'ok' if daemon_problem is None else 'FAILED'}",
            goal="0 unclear (traceback, wrong exit status, no sentence naming the file, raw "
            "control characters), 0 changed",
            passed=passed,
            notes=(
                [f"{count} x {kind}" for kind, count in _kinds(bad_drafts + bad_configs).items()]
                + bad_drafts[:4]
                + bad_configs[:4]
                + changed[:2]
                + ([daemon_problem] if daemon_problem else [])
            ),
        )
    ]


def _judge_drafts(config_path: Path, corpus: list[bytes]) -> list[str]:
    content = config_path.parent / "content"
    bad = []
    for number, data in enumerate(corpus):
        path = content / f"hostile-{number:03}.yaml"
        path.write_bytes(data)
        status, output = _validate(config_path, path)
        named = any(
            line.startswith(f"content/{path.name}: ") or line.startswith(f"{path}: ")
            for line in output.splitlines()
        )
        problem = None
        if status not in (0, 1):
            problem = f"exit status {status}"
        elif "Traceback" in output or "internal error" in output or "escaped:" in output:
            problem = "a traceback or internal error"
        elif _unsafe(output):
            problem = "raw control characters in the output"
        elif status == 1 and not named:
            problem = "no `path: field: message` line naming the file"
        if problem:
            bad.append(f"draft #{number} ({data[:60]!r}): {problem}: {_last_line(output)!r}")
    return bad


def _judge_configs(root: Path, corpus: list[bytes]) -> list[str]:
    bad = []
    site = root / "configs"  # a clean site: what is printed is the config's doing
    make_site(site)
    for number, data in enumerate(corpus):
        path = site / f"config-{number:03}.yaml"
        path.write_bytes(data)
        status, output = _validate(path)
        problem = None
        if status not in (0, 1, 2):
            problem = f"exit status {status}"
        elif "Traceback" in output or "internal error" in output or "escaped:" in output:
            problem = "a traceback or internal error"
        elif _unsafe(output):
            problem = "raw control characters in the output"
        elif status == 2 and path.name not in output:
            problem = "the error does not name the config file"
        if problem:
            bad.append(f"config #{number} ({data[:60]!r}): {problem}: {_last_line(output)!r}")
        path.unlink()
    return bad


def _daemon_pass(config_path: Path) -> str | None:
    clock = ManualClock()
    try:
        with SandboxServer(clock=clock, fetch_media=False) as sandbox:
            text = config_path.read_text()
            document = json.loads(text)
            document["accounts"]["main"]["base_url"] = sandbox.base_url
            config_path.write_text(json.dumps(document))
            daemon = open_daemon(load_config(config_path), clock)
            try:
                settle(daemon, timeout=120)
            finally:
                daemon.shutdown()
    except Exception as exc:
        return f"the daemon failed on the corpus: {exc!r}"
    return None


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _unsafe(output: str) -> bool:
    """Raw control characters (an escape sequence in a draft's key or value printed as it
    is can rewrite the user's terminal): the output should show them escaped."""
    return bool(_CONTROL.search(output))


def _kinds(bad: list[str]) -> Counter[str]:
    """How many of each problem (the text between the example and the output)."""
    return Counter(line.split("): ", 1)[-1].split(": ", 1)[0] for line in bad)


def _last_line(output: str) -> str:
    """The line that shows the problem: the first with a control character, else the last."""
    lines = [line for line in output.splitlines() if line.strip()]
    lines = [line for line in lines if _CONTROL.search(line)] or lines[::-1]
    return (lines[0] if lines else "(no output)")[:160]
