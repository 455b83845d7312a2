"""The classification table: every row of instagram-api.md §7.2/§7.3 -> what to do next."""

from __future__ import annotations

import json

import pytest

from publisher import errors, logs
from publisher.instagram import errors as graph_errors
from publisher.instagram.errors import classify, container_failed


def graph_body(code: int, subcode: int | None = None, **extra: object) -> dict[str, object]:
    error: dict[str, object] = {
        "message": extra.pop("message", "Meta's message"),
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "A6LJylpZRKw2xKLFsAP-cJh",
        **extra,
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


# (code, subcode, expected class on the create step) — instagram-api.md §7.2 [ERR]
PUBLISHING_TABLE = [
    (-2, 2207003, errors.Transient),
    (-2, 2207020, errors.RebuildContainer),
    (-1, 2207001, errors.Transient),
    (-1, 2207032, errors.Transient),
    (-1, 2207053, errors.RebuildContainer),
    (1, 2207057, errors.Permanent),
    (4, 2207051, errors.Permanent),
    (9, 2207042, errors.QuotaExhausted),
    (24, 2207006, errors.RebuildContainer),
    (24, 2207008, errors.Transient),
    (25, 2207050, errors.AuthFailed),  # the account is blocked, not one draft (LESSONS.md)
    (100, 2207023, errors.Permanent),
    (100, 2207028, errors.Permanent),
    (100, 2207035, errors.Permanent),
    (100, 2207036, errors.Permanent),
    (100, 2207037, errors.Permanent),
    (100, 2207040, errors.Permanent),
    (352, 2207026, errors.Permanent),
    (9004, 2207052, errors.Transient),
    (9007, 2207027, errors.Transient),
    (36000, 2207004, errors.Permanent),
    (36001, 2207005, errors.Permanent),
    (36003, 2207009, errors.Permanent),
    (36004, 2207010, errors.Permanent),
    (200, None, errors.AuthFailed),  # 403 · 200 missing ads_management
    # undocumented subcodes seen in code
    (100, 2207081, errors.Permanent),
    (100, 2207018, errors.Permanent),
    (-1, 2207076, errors.Transient),
    (2, 2207077, errors.Permanent),
    (-1, 2207082, errors.RebuildContainer),
    (-1, 2207085, errors.RebuildContainer),
]

# instagram-api.md §7.3 [GERR][RL][CODE: MIXPOST]
GENERIC_TABLE = [
    (1, None, errors.Transient),
    (2, None, errors.Transient),
    (4, None, errors.RateLimited),
    (17, None, errors.RateLimited),
    (32, None, errors.RateLimited),
    (613, None, errors.RateLimited),
    (613, 1996, errors.RateLimited),
    (341, None, errors.RateLimited),
    (80002, None, errors.RateLimited),
    (80001, None, errors.RateLimited),
    (80000, None, errors.RateLimited),
    (80009, None, errors.RateLimited),
    (80014, None, errors.RateLimited),
    (368, None, errors.RateLimited),
    (10, None, errors.AuthFailed),
    (200, None, errors.AuthFailed),
    (299, None, errors.AuthFailed),
    (100, None, errors.Permanent),
    (100, 33, errors.Permanent),  # on a write: the object does not exist for this token
    (190, None, errors.AuthFailed),
    (102, None, errors.AuthFailed),
    *[(190, sub, errors.AuthFailed) for sub in (458, 459, 460, 463, 464, 467, 492)],
    *[(102, sub, errors.AuthFailed) for sub in (458, 459, 460, 463, 464, 467, 492)],
]


@pytest.mark.parametrize(("code", "subcode", "expected"), PUBLISHING_TABLE + GENERIC_TABLE)
def test_the_table_classifies_by_code_and_subcode(
    code: int, subcode: int | None, expected: type[errors.ApiError]
) -> None:
    failure = classify(
        http_status=400, body=graph_body(code, subcode), step="create", container_id="178"
    )
    assert type(failure) is expected
    assert (failure.code, failure.subcode) == (code, subcode)
    assert failure.step == "create"
    assert failure.container_id == "178"
    assert failure.fbtrace_id == "A6LJylpZRKw2xKLFsAP-cJh"
    assert failure.http_status == 400
    assert failure.hint, "every failure says what to do"
    assert "unknown error" not in failure.hint.lower()
    text = str(failure)
    assert "create failed" in text and "container 178" in text
    assert f"code {code}" in text and "fbtrace_id A6LJylpZRKw2xKLFsAP-cJh" in text


def test_every_rule_names_its_source_and_a_hint() -> None:
    for rule in graph_errors.TABLE:
        assert rule.source.startswith("["), rule
        assert len(rule.hint) > 20, rule


@pytest.mark.parametrize(
    ("code", "subcode", "expected"),
    [
        (100, 33, errors.Transient),  # postiz #1562: intermittent on reads
        (190, 463, errors.AuthFailed),
        (4, None, errors.RateLimited),
        (100, 2207028, errors.Permanent),
    ],
)
def test_reads_retry_the_intermittent_100_33(
    code: int, subcode: int | None, expected: type[errors.ApiError]
) -> None:
    failure = classify(http_status=400, body=graph_body(code, subcode), step="poll")
    assert type(failure) is expected


@pytest.mark.parametrize(
    ("http_status", "body", "step", "expected"),
    [
        # publish: only a proven refusal is not ambiguous
        (400, graph_body(9007, 2207027), "publish", errors.Transient),
        (400, graph_body(-1, 2207001), "publish", errors.Ambiguous),
        (500, graph_body(1), "publish", errors.Ambiguous),
        (502, None, "publish", errors.Ambiguous),
        (200, None, "publish", errors.Ambiguous),
        (None, None, "publish", errors.Ambiguous),
        (400, graph_body(4, 2207051), "publish", errors.Permanent),
        (400, graph_body(190, 463), "publish", errors.AuthFailed),
        (400, graph_body(9, 2207042), "publish", errors.QuotaExhausted),
        (400, graph_body(36004, 2207010), "publish", errors.Permanent),
        # no Graph body: decided by the HTTP status
        (502, None, "poll", errors.Transient),
        (503, "<html>Service Unavailable</html>", "create", errors.Transient),
        (200, None, "poll", errors.Transient),
        (429, None, "create", errors.RateLimited),
        (401, None, "account", errors.AuthFailed),
        (403, "Forbidden", "create", errors.AuthFailed),
        (404, "<html>Not Found</html>", "create", errors.Permanent),
        (302, None, "publish", errors.Permanent),
        # unknown codes: Meta's is_transient, Postiz's "unknown error occurred", else give up
        (400, graph_body(123456, is_transient=True), "create", errors.Transient),
        (
            500,
            graph_body(99999, message="An unknown error occurred"),
            "create",
            errors.Transient,
        ),
        (400, graph_body(99999), "create", errors.Permanent),
        # a JSON body given as text is parsed
        (400, json.dumps(graph_body(190, 467)), "create", errors.AuthFailed),
    ],
)
def test_outcomes_without_a_known_code(
    http_status: int | None, body: object, step: str, expected: type[errors.ApiError]
) -> None:
    failure = classify(http_status=http_status, body=body, step=step, container_id="178")
    assert type(failure) is expected
    assert failure.hint and "unknown error" not in failure.hint.lower()
    assert failure.message


def test_spam_restriction_tells_the_user_to_check_the_app_before_retrying() -> None:
    failure = classify(http_status=400, body=graph_body(4, 2207051), step="publish")
    assert isinstance(failure, errors.Permanent)
    assert "check whether the post went out" in failure.hint


def test_unknown_code_hint_names_the_code() -> None:
    failure = classify(http_status=400, body=graph_body(4242, 17), step="create")
    assert "4242/17" in failure.hint


def test_meta_user_message_is_kept() -> None:
    body = graph_body(
        36000,
        2207004,
        message="The image size is too large.",
        error_user_msg="The image is too large to download. It should be less than 8 MiB.",
    )
    failure = classify(http_status=400, body=body, step="create")
    assert "The image size is too large." in failure.message
    assert "less than 8 MiB" in failure.message


@pytest.mark.parametrize(
    ("headers", "body", "expected_wait"),
    [
        ({"Retry-After": "7"}, graph_body(4), 7.0),
        ({"retry-after": "0"}, None, 0.0),
        (
            {
                "X-Business-Use-Case-Usage": json.dumps(
                    {
                        "1784": [
                            {"type": "instagram", "estimated_time_to_regain_access": 3},
                            {"type": "pages", "estimated_time_to_regain_access": 5},
                        ]
                    }
                )
            },
            graph_body(80002),
            300.0,
        ),
        (
            {
                "X-Business-Use-Case-Usage": json.dumps(
                    {"1784": [{"type": "instagram", "estimated_time_to_regain_access": 0}]}
                )
            },
            graph_body(80002),
            graph_errors.DEFAULT_RATE_LIMIT_WAIT,
        ),
        ({}, graph_body(17), graph_errors.DEFAULT_RATE_LIMIT_WAIT),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, graph_body(4), 60.0),
        ({"X-Business-Use-Case-Usage": "not json"}, graph_body(4), 60.0),
        ({}, graph_body(368), 3600.0),
        ({"Retry-After": "inf"}, graph_body(4), 60.0),
        ({"Retry-After": "999999999"}, graph_body(4), 86400.0),
    ],
)
def test_rate_limit_wait(headers: dict[str, str], body: object, expected_wait: float) -> None:
    status = 400 if body else 429
    failure = classify(http_status=status, body=body, step="create", headers=headers)
    assert isinstance(failure, errors.RateLimited)
    assert failure.retry_after == expected_wait


def test_meta_text_is_redacted() -> None:
    logs.register_secret("EAAB-classify-canary-0123456789")
    body = graph_body(190, message="bad token EAAB-classify-canary-0123456789 given")
    failure = classify(http_status=400, body=body, step="account")
    assert "EAAB-classify-canary" not in str(failure)
    assert "EAAB-classify-canary" not in repr(failure)


@pytest.mark.parametrize(
    ("status_code", "status", "expected"),
    [
        ("EXPIRED", None, errors.RebuildContainer),
        ("ERROR", "Error: Media upload has failed with error code 2207026", errors.Permanent),
        (
            "ERROR",
            "Error: Media upload has failed with error code 2207003",
            errors.RebuildContainer,
        ),
        ("ERROR", "Error: 2207053", errors.RebuildContainer),
        ("ERROR", "Error: 2207077", errors.Permanent),
        ("ERROR", "something Meta said", errors.RebuildContainer),
        ("ERROR", None, errors.RebuildContainer),
    ],
)
def test_dead_containers(
    status_code: str, status: str | None, expected: type[errors.ApiError]
) -> None:
    failure = container_failed(status_code, status, container_id="178")
    assert type(failure) is expected
    assert failure.container_id == "178" and failure.step == "poll"
    assert failure.hint
    if status:
        assert status in failure.message  # Meta's status text is kept
