"""The access tokens: where each account's token comes from, which token an account uses,
and which accounts have none. The one module that reads a token's value.

Sources, the first found wins: `access_token` in config.yaml (or the environment variable
`PUBLISHER_ACCOUNTS__<NAME>__ACCESS_TOKEN`, which overrides the file), then the file named
by `access_token_file`, then the systemd credential `$CREDENTIALS_DIRECTORY/<name>-token`
(`LoadCredential=`). An account on the sandbox with none of these uses `SANDBOX_TOKEN`, so
that a fresh clone publishes without any setup.

Which token an account uses: for Instagram Login with `token_refresh` (the default), the
refreshed one kept in state_dir/tokens/<account> (`config.refreshed`) while the configured
one is unchanged; otherwise the configured one.

Never log a token, put it in an exception, the job store, a draft or a URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

from publisher.config import refreshed
from publisher.config.schema import ENV_PREFIX, Account, Config
from publisher.errors import Problem

# What the in-process sandbox accepts from an account that has no token of its own: the
# sandbox wants some bearer token, and a fresh clone must work without any setup.
SANDBOX_TOKEN = "sandbox-token"

# What an Authorization header can carry: visible ASCII (Meta's tokens are letters, digits
# and a few signs). Anything else makes httpx/h11 fail on the first call with no sentence.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


def configured(config: Config, account: str) -> str | None:
    """Given a config and an account name, return the token the config gives the account,
    or None when it gives none."""
    secret = config.accounts[account].access_token
    return secret.get_secret_value() if secret is not None else None


def token(config: Config, account: str) -> str | None:
    """Given a config and an account name, return the token the account uses: the refreshed
    one kept for it (see the module docstring), else the configured one, else
    `SANDBOX_TOKEN` for a sandbox account, else None (a real account without a token cannot
    publish)."""
    found = configured(config, account)
    if found is None and config.accounts[account].api == "sandbox":
        return SANDBOX_TOKEN
    kept = refreshed_for(config, account)
    if kept is not None and kept.token:
        return kept.token
    return found


def refreshed_for(config: Config, account: str) -> refreshed.Kept | None:
    """The refresh record of an Instagram Login account with `token_refresh`, when it goes
    with the configured token; None otherwise (other accounts, or the token changed)."""
    spec = config.accounts[account]
    found = configured(config, account)
    if found is None or spec.api != "instagram" or not spec.token_refresh:
        return None
    return refreshed.current(config.state_dir, account, found)


def expires(config: Config, account: str) -> datetime | None:
    """When the token the account uses expires, where publisher knows it (a token it
    refreshed); None when unknown."""
    kept = refreshed_for(config, account)
    return kept.expires_at if kept is not None and kept.token else None


def missing(config: Config) -> dict[str, str]:
    """Given a config, return the accounts that have no token to use, in config order, each
    with what to do: "set PUBLISHER_ACCOUNTS__MAIN__ACCESS_TOKEN, ... or the systemd
    credential main-token"."""
    return {name: how_to_give(name) for name in config.accounts if token(config, name) is None}


def how_to_give(account: str) -> str:
    """The ways to give `account` a token, as a sentence starting with "set"."""
    variable = f"{ENV_PREFIX}ACCOUNTS__{account.upper()}__ACCESS_TOKEN"
    return (
        f"set {variable}, accounts.{account}.access_token_file, or the systemd credential "
        f"{account}-token"
    )


def read(
    config: Config, path: Path, environ: Mapping[str, str]
) -> tuple[dict[str, Account], list[Problem]]:
    """Given a config as validated, its file's path and the environment, return its accounts
    with the token of each found (see the module docstring) and stripped, and the problems
    met: an unreadable token file, a token that cannot go in an HTTP header. Never quotes a
    token."""
    base = path.resolve().parent
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    problems: list[Problem] = []
    accounts = {}
    for name, account in config.accounts.items():
        secret = account.access_token
        where = f"accounts.{name}.access_token"  # where the token came from, for a problem
        if secret is None and account.access_token_file is not None:
            where = f"accounts.{name}.access_token_file"
            token_path = account.access_token_file
            if not token_path.is_absolute():
                token_path = base / token_path
            try:
                secret = SecretStr(token_path.read_text(encoding="utf-8").strip())
            except OSError as exc:
                problems.append(
                    Problem(str(path), f"at '{where}'", f"cannot read {token_path}: {exc.strerror}")
                )
            except UnicodeDecodeError:
                problems.append(_unsendable(path, where))
        if secret is None and credentials:
            candidate = Path(credentials) / f"{name}-token"
            if candidate.is_file():
                try:
                    secret = SecretStr(candidate.read_text(encoding="utf-8").strip())
                except OSError as exc:
                    problems.append(
                        Problem(
                            str(path),
                            f"at 'accounts.{name}'",
                            f"cannot read the credential {name}-token: {exc.strerror}",
                        )
                    )
                except UnicodeDecodeError:
                    problems.append(_unsendable(path, f"accounts.{name}.access_token"))
        if secret is not None:
            # A pasted token often ends in a newline, which is not valid in an HTTP header.
            text = secret.get_secret_value().strip()
            secret = SecretStr(text) if text else None
            if text and not _HEADER_SAFE.fullmatch(text):
                problems.append(_unsendable(path, where))
        accounts[name] = account.model_copy(update={"access_token": secret})
    return accounts, problems


def _unsendable(path: Path, where: str) -> Problem:
    """The token at `where` cannot go in an HTTP header. Never quotes the token."""
    return Problem(
        str(path),
        f"at '{where}'",
        "the access token has a space, a line break or a non-ASCII character inside (or the "
        "file is not UTF-8 text), so it cannot be sent; paste the token again as one line "
        "of plain text",
    )
