"""The two login flavours serve only their documented endpoints (issue 8, point 6;
instagram-api.md §1, §8): playing Instagram Login the sandbox has no /stories and no
/debug_token (Facebook Login's), playing Facebook Login no /refresh_access_token (Facebook
user tokens have no refresh endpoint). "both", the default, answers all of them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import httpx
import pytest

from publisher.sandbox.faults import Faults
from publisher.sandbox.server import SandboxServer

TOKEN = "EAAB-sandbox-logins-0b7c"
IG = "17841400000000000"


def call(sandbox: SandboxServer, endpoint: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=str(sandbox.base_url), trust_env=False, timeout=10) as http:
        http.get(f"/v25.0/{IG}", params={"fields": "username"}, headers=headers)  # the account
        if endpoint == "stories":
            return http.get(f"/v25.0/{IG}/stories", headers=headers)
        if endpoint == "debug_token":
            return http.get("/v25.0/debug_token", headers=headers)
        return http.get(
            "/refresh_access_token",
            params={"grant_type": "ig_refresh_token", "access_token": TOKEN},
        )


def unknown_path(answer: httpx.Response) -> bool:
    return answer.status_code == 400 and answer.json()["error"]["code"] == 2500


@pytest.fixture
def start(start_sandbox: Callable[..., SandboxServer]) -> Callable[[str], SandboxServer]:
    def started(login: str) -> SandboxServer:
        run = partial(start_sandbox, token=TOKEN, fetch_media=False)
        return run(faults=Faults(login=login, refresh_min_age_s=0))

    return started


@pytest.mark.parametrize(
    ("login", "endpoint", "served"),
    [
        ("instagram", "stories", False),
        ("instagram", "debug_token", False),
        ("instagram", "refresh", True),
        ("facebook", "stories", True),
        ("facebook", "debug_token", True),
        ("facebook", "refresh", False),
        ("both", "stories", True),
        ("both", "debug_token", True),
        ("both", "refresh", True),
    ],
)
def test_each_login_serves_only_its_endpoints(
    start: Callable[[str], SandboxServer], login: str, endpoint: str, served: bool
) -> None:
    answer = call(start(login), endpoint)
    assert unknown_path(answer) is not served, answer.text
    if served:
        assert answer.status_code == 200, answer.text


def test_the_login_is_a_setting_checked_like_the_faults() -> None:
    from publisher.sandbox import faults

    settings = Faults()
    with pytest.raises(ValueError, match="both, instagram, facebook"):
        faults.apply(settings, {"login": "twitter"})
    faults.apply(settings, {"login": "facebook"})
    assert settings.login == "facebook"
