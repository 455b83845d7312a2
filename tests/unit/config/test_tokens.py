"""config.tokens: where a token comes from, which one an account uses, which have none."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher import config
from publisher.config import tokens
from publisher.errors import ConfigError
from tests.support.configs import MINIMAL, TOKEN, write

TOKEN_SOURCES = [
    # (id, extra account lines, files under tmp_path, environment, expected token)
    ("file-absolute", "    access_token_file: {tmp}/tok\n", {"tok": f"{TOKEN}\n"}, {}, TOKEN),
    ("file-relative", "    access_token_file: secrets/tok\n", {"secrets/tok": TOKEN}, {}, TOKEN),
    ("file-empty", "    access_token_file: tok\n", {"tok": "\n"}, {}, None),
    (
        "credentials",
        "",
        {"creds/main-token": TOKEN},
        {"CREDENTIALS_DIRECTORY": "{tmp}/creds"},
        TOKEN,
    ),
    (
        "credentials-other-account",
        "",
        {"creds/shop-token": TOKEN},
        {"CREDENTIALS_DIRECTORY": "{tmp}/creds"},
        None,
    ),
    (
        "env-beats-file",
        "    access_token_file: tok\n",
        {"tok": "from-file"},
        {"PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN": TOKEN},
        TOKEN,
    ),
    (
        "file-beats-credentials",
        "    access_token_file: tok\n",
        {"tok": TOKEN, "creds/main-token": "from-creds"},
        {"CREDENTIALS_DIRECTORY": "{tmp}/creds"},
        TOKEN,
    ),
    ("nothing", "", {}, {}, None),
]


@pytest.mark.parametrize(
    ("lines", "files", "environ", "expected"),
    [c[1:] for c in TOKEN_SOURCES],
    ids=[c[0] for c in TOKEN_SOURCES],
)
def test_token_sources(
    tmp_path: Path,
    lines: str,
    files: dict[str, str],
    environ: dict[str, str],
    expected: str | None,
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    path = write(tmp_path, MINIMAL + lines.format(tmp=tmp_path))
    env = {key: value.format(tmp=tmp_path) for key, value in environ.items()}
    assert tokens.configured(config.load(path, environ=env), "main") == expected


def test_unreadable_token_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "    access_token_file: missing-token\n")
    with pytest.raises(ConfigError) as caught:
        config.load(path, environ={})
    (problem,) = caught.value.problems
    assert problem.field == "at 'accounts.main.access_token_file'"
    assert "missing-token" in problem.message and "No such file" in problem.message


def test_token_never_shows(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + f"    access_token: {TOKEN}\n")
    cfg = config.load(path, environ={})
    assert TOKEN not in repr(cfg) and TOKEN not in str(cfg)
    assert TOKEN not in cfg.model_dump_json()
    bad = write(tmp_path, MINIMAL + f"    access_token: {TOKEN}\n    api: nope\n")
    with pytest.raises(ConfigError) as caught:
        config.load(bad, environ={})
    assert TOKEN not in str(caught.value)


THREE = """\
accounts:
  main: {ig_user_id: "1", api: instagram}
  shop: {ig_user_id: "2", api: facebook, access_token: shop-token}
  test: {ig_user_id: "3"}
"""


def test_which_token_each_account_uses(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, THREE), environ={})
    assert [tokens.token(cfg, name) for name in ("main", "shop", "test")] == [
        None,  # a real account without a token cannot publish
        "shop-token",
        tokens.SANDBOX_TOKEN,  # the sandbox wants some token; a fresh clone has none
    ]
    assert tokens.configured(cfg, "test") is None  # the sandbox's token is not configured


def test_the_accounts_without_a_token_and_how_to_give_one(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, THREE), environ={})
    assert tokens.missing(cfg) == {
        "main": "set PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN, accounts.main.access_token_file, "
        "or the systemd credential main-token"
    }
    given = config.load(
        write(tmp_path, THREE), environ={"PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN": TOKEN}
    )
    assert tokens.missing(given) == {}


@pytest.mark.parametrize("text", ["IGQ VJ", "IGQ\u00e9", "a\tb"])
def test_a_token_that_cannot_go_in_a_header_is_refused_unquoted(tmp_path: Path, text: str) -> None:
    environ = {"PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN": text}
    with pytest.raises(ConfigError) as caught:
        config.load(write(tmp_path, MINIMAL), environ=environ)
    (problem,) = caught.value.problems
    assert problem.field == "at 'accounts.main.access_token'"
    assert "cannot be sent" in problem.message and text not in str(caught.value)
