"""Meta's usage headers: the figures read, the spacing they ask for, the pacer that holds an
account back, and a session that slows down before the limit instead of hitting it."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
import respx

from publisher import errors
from publisher.instagram import usage
from publisher.instagram.errors import classify
from tests.support.clock import SleepClock
from tests.support.graphclient import T0, Recorder, graph_error, make_client


def buc(**entry: float) -> str:
    return json.dumps({"1784": [{"type": "instagram", **entry}]})


@pytest.mark.parametrize(
    ("headers", "figure"),
    [
        ({}, None),
        ({"X-App-Usage": json.dumps({"call_count": 28, "total_time": 81, "total_cputime": 3})}, 81),
        ({"x-business-use-case-usage": buc(call_count=95, total_time=20)}, 95),
        ({"X-Ad-Account-Usage": json.dumps({"acc_id_util_pct": 9.67})}, 9.67),
        (
            {
                "X-App-Usage": json.dumps({"call_count": 40}),
                "X-Business-Use-Case-Usage": buc(call_count=12),
            },
            40,
        ),
        ({"X-App-Usage": "not json"}, None),
        ({"X-App-Usage": json.dumps({"call_count": True})}, None),
        ({"X-Business-Use-Case-Usage": json.dumps({"1": "x"})}, None),
    ],
)
def test_the_highest_figure_is_read(headers: dict[str, str], figure: float | None) -> None:
    assert usage.percent(headers) == figure


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"X-Business-Use-Case-Usage": buc(estimated_time_to_regain_access=0)}, None),
        ({"X-Business-Use-Case-Usage": buc(estimated_time_to_regain_access=3)}, 180),
        ({"X-Ad-Account-Usage": json.dumps({"reset_time_duration": 45})}, 45),
    ],
)
def test_regain_time(headers: dict[str, str], seconds: float | None) -> None:
    assert usage.regain_seconds(headers) == seconds


@pytest.mark.parametrize(
    ("figure", "spacing"),
    [(None, 0), (0, 0), (79.9, 0), (80, 0), (90, 15), (100, 60), (150, 60)],
)
def test_spacing_grows_from_80_percent(figure: float | None, spacing: float) -> None:
    assert usage.spacing(figure) == pytest.approx(spacing)


def test_spacing_only_grows() -> None:
    figures = [80 + step / 10 for step in range(200)]
    gaps = [usage.spacing(figure) for figure in figures]
    assert gaps == sorted(gaps)


def test_the_pacer_spaces_calls_when_usage_is_high() -> None:
    pacer = usage.Pacer()
    assert pacer.reserve(T0, 60) == 0
    assert pacer.reserve(T0, 60) == 0  # usage unknown: calls go as they come
    pacer.answered({"X-App-Usage": json.dumps({"call_count": 90})})
    assert pacer.usage == 90
    assert pacer.reserve(T0, 60) == pytest.approx(15)
    assert pacer.reserve(T0 + timedelta(seconds=15), 60) == pytest.approx(15)
    pacer.answered({"X-App-Usage": json.dumps({"call_count": 10})})
    assert pacer.reserve(T0 + timedelta(seconds=30), 60) == 0


def test_a_held_pacer_books_nothing_beyond_what_the_caller_waits() -> None:
    pacer = usage.Pacer()
    pacer.hold(T0 + timedelta(minutes=30))
    assert pacer.reserve(T0, 60) == pytest.approx(1800)  # too long: nothing booked
    assert pacer.reserve(T0 + timedelta(minutes=30), 60) == 0


def test_a_failure_at_100_percent_usage_is_throttling_not_a_transient_error() -> None:
    headers = {"X-Business-Use-Case-Usage": buc(call_count=100, estimated_time_to_regain_access=4)}
    failure = classify(http_status=500, body=None, step="poll", headers=headers)
    assert isinstance(failure, errors.RateLimited)
    assert failure.retry_after == 240
    body = {"error": {"message": "temporary", "code": 2, "is_transient": True}}
    failure = classify(http_status=500, body=body, step="create", headers=headers)
    assert isinstance(failure, errors.RateLimited)
    # ... but a doubtful media_publish stays doubtful: it is reconciled, whatever the usage
    failure = classify(http_status=500, body=None, step="publish", headers=headers)
    assert isinstance(failure, errors.Ambiguous)
    # and a refusal of the content stays what it is
    bad = {"error": {"message": "bad", "code": 100}}
    failure = classify(http_status=400, body=bad, step="create", headers=headers)
    assert isinstance(failure, errors.Permanent)


@pytest.mark.parametrize("code", [4, 17, 32, 613])
def test_a_rate_limit_code_is_raised_at_once_and_holds_the_account(
    code: int, router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    answer = graph_error(400, code, None, "Application request limit reached")
    answer.headers["X-Business-Use-Case-Usage"] = buc(
        call_count=100, estimated_time_to_regain_access=10
    )
    route = router.get("/178").mock(return_value=answer)
    pacer = usage.Pacer()
    client = make_client(http, seen, pacer=pacer)
    with pytest.raises(errors.RateLimited) as caught:
        client.container_status("178")
    assert caught.value.retry_after == 600
    assert route.call_count == 1 and seen.sleeps == []
    # the next call is not even sent: calls made while throttled extend the block
    with pytest.raises(errors.RateLimited, match="not sent") as held:
        client.container_status("178")
    assert route.call_count == 1
    assert 590 < (held.value.retry_after or 0) <= 600


def test_a_session_slows_down_before_the_limit(
    router: respx.MockRouter, http: httpx.Client, seen: Recorder
) -> None:
    busy = {"X-App-Usage": json.dumps({"call_count": 95, "total_time": 10, "total_cputime": 9})}
    router.get("/178").mock(
        return_value=httpx.Response(200, json={"status_code": "IN_PROGRESS"}, headers=busy)
    )
    time = SleepClock(T0)
    client = make_client(http, seen, pacer=usage.Pacer(), clock=time, sleep=time.sleep)
    for _ in range(3):
        client.container_status("178")
    # 95 %: about 34 s between calls
    assert time.slept == [pytest.approx(usage.spacing(95))] * 2
    assert seen.calls[0].usage == {
        "x-app-usage": {"call_count": 95, "total_time": 10, "total_cputime": 9}
    }
