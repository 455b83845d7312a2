"""An answer the JSON parser cannot take (a proxy or a broken server answering 200 with
deeply nested JSON) is an ApiError of the right kind, never a foreign exception."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import respx

from publisher.errors import Ambiguous, ApiError, Transient
from publisher.instagram import client as graph
from publisher.instagram import session

SECRET = "EAAB-review-secret-0123456789"
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
