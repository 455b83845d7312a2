"""`Client.insights`: the metric list sent, both answer shapes read, a metric Meta left out
left out, the permission refusal classified."""

from __future__ import annotations

import httpx
import pytest
import respx

from publisher import errors
from tests.support.graphclient import TOKEN, Recorder, make_client


def test_reads_values_and_total_value_and_leaves_out_what_meta_left_out(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    route = router.get("/1790001/insights").respond(
        200,
        json={
            "data": [
                {"name": "reach", "period": "lifetime", "values": [{"value": 120}]},
                {"name": "views", "total_value": {"value": 300}},
                {"name": "likes", "values": [{"value": "many"}]},  # not a number: left out
            ]
        },
    )
    found = make_client(http, seen).insights("1790001", ("reach", "views", "likes", "saved"))
    assert found == {"reach": 120, "views": 300}
    request = route.calls.last.request
    assert request.url.params["metric"] == "reach,views,likes,saved"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(request.url)
    assert seen.calls[-1].step == "insights"


def test_a_missing_permission_is_an_auth_failure_with_its_code(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    router.get("/1790001/insights").respond(
        400,
        json={
            "error": {
                "message": "(#10) Application does not have permission for this action",
                "type": "OAuthException",
                "code": 10,
            }
        },
    )
    with pytest.raises(errors.AuthFailed) as raised:
        make_client(http, seen).insights("1790001", ("reach",))
    assert raised.value.code == 10
