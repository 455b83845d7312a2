"""Which Graph API an account's calls go to: its `base_url`, the flavour's public host
(`config.API_HOSTS`), or the sandbox this process starts for `api: sandbox` accounts without
a base_url (its posts kept in state_dir/sandbox.json, so that they survive restarts and
reconciliation can read them).
"""

from __future__ import annotations

import logging
from pathlib import Path

from publisher import config as config_module
from publisher.clock import Clock
from publisher.config import Config
from publisher.sandbox.server import SandboxServer

log = logging.getLogger(__name__)

SANDBOX_STATE = "sandbox.json"


def uses_inprocess_sandbox(config: Config, account: str) -> bool:
    """Given a config and an account name, return True when the account talks to the
    sandbox this process starts (api: sandbox without a base_url)."""
    spec = config.accounts[account]
    return spec.api == "sandbox" and spec.base_url is None


def base_url(config: Config, account: str, sandbox_url: str | None) -> str:
    """Where `account`'s Graph API calls go: its base_url, else the in-process sandbox, else
    the flavour's public host. Raise ValueError for a sandbox account with no sandbox."""
    spec = config.accounts[account]
    if spec.base_url is not None:
        return spec.base_url
    if spec.api == "sandbox":
        if sandbox_url is None:
            raise ValueError(f"account {account!r} needs the in-process sandbox, not started")
        return sandbox_url
    return config_module.API_HOSTS[spec.api]


def start_sandbox(
    config: Config, clock: Clock, state_path: Path | None
) -> tuple[SandboxServer | None, str | None]:
    """Start the in-process sandbox when some account needs it; its posts are kept in
    state_dir/sandbox.json so that they survive restarts (reconciliation reads them)."""
    if not any(uses_inprocess_sandbox(config, name) for name in config.accounts):
        return None, None
    path = state_path or config.state_dir / SANDBOX_STATE
    server = SandboxServer(state_path=path, clock=clock)
    url = server.start()
    log.debug("sandbox Graph API on %s (posts kept in %s)", url, path)
    return server, url
