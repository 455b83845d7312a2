"""config.yaml (SPEC §3): `schema` (what it may hold), `loading` (reading it, with the
environment, into a `Config`, and its errors into sentences), `tokens` (the access tokens:
where they come from, which one an account uses, which accounts have none), `refreshed`
(the refreshed tokens kept in state_dir/tokens).

    from publisher import config
    cfg = config.load(config.default_path())
    config.tokens.token(cfg, "main")
"""

from __future__ import annotations

from publisher.config import tokens
from publisher.config.loading import default_path, load
from publisher.config.schema import API_HOSTS, Config, Slot
from publisher.config.values import parse_days

__all__ = ["API_HOSTS", "Config", "Slot", "default_path", "load", "parse_days", "tokens"]
