"""Error classification over every kind of answer (hypothesis): each (HTTP status, code,
subcode) gives exactly one class, the table never holds two equally specific rows that
disagree, `classify` never raises, and a code publisher does not know never makes it send a
post or a comment again without looking first."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from publisher import errors
from publisher.instagram import errors as graph_errors

PROPERTIES = settings(max_examples=300, deadline=None, derandomize=True)

CLASSES = (
    errors.Transient,
    errors.RebuildContainer,
    errors.RateLimited,
    errors.QuotaExhausted,
    errors.AuthFailed,
    errors.Permanent,
    errors.Ambiguous,
)
KNOWN_CODES = sorted({code for rule in graph_errors.TABLE for code in rule.codes or ()})
KNOWN_SUBCODES = sorted({sub for rule in graph_errors.TABLE for sub in rule.subcodes or ()})
STEPS = sorted(graph_errors.READ_STEPS | {"create", "publish", "comment"})

CODE = st.one_of(st.none(), st.sampled_from(KNOWN_CODES), st.integers(-10, 10**7))
SUBCODE = st.one_of(st.none(), st.sampled_from(KNOWN_SUBCODES), st.integers(0, 10**8))
ODD = st.one_of(  # what a broken proxy or a changed API may put where a number belongs
    st.text(max_size=8),
    st.booleans(),
    st.floats(allow_nan=True),
    st.lists(st.integers()),
    st.none(),
)
HEADERS = st.dictionaries(
    st.sampled_from(
        ["X-App-Usage", "x-business-use-case-usage", "Retry-After", "x-ad-account-usage"]
    ),
    st.one_of(
        st.text(max_size=40),
        st.sampled_from(
            [
                '{"call_count":100}',
                '{"1":[{"call_count":100,"estimated_time_to_regain_access":5}]}',
                "inf",
                "-3",
            ]
        ),
    ),
    max_size=2,
)


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    code, subcode = draw(CODE), draw(SUBCODE)
    error: dict[str, Any] = {}
    if code is not None:
        error["code"] = draw(st.sampled_from([code, str(code)]))
    if subcode is not None:
        error["error_subcode"] = subcode
    if draw(st.booleans()):
        error["message"] = draw(st.text(max_size=40))
    if draw(st.booleans()):
        error["is_transient"] = draw(st.one_of(st.booleans(), ODD))
    if draw(st.booleans()):
        error["fbtrace_id"] = draw(st.one_of(st.text(max_size=12), ODD))
    shape = draw(st.sampled_from(["graph", "text", "odd", "none", "bytes"]))
    if shape == "graph":
        return {"error": error}
    if shape == "text":
        return draw(st.text(max_size=60))
    if shape == "bytes":
        return draw(st.binary(max_size=60))
    if shape == "odd":
        return {"error": draw(ODD)}
    return None


@PROPERTIES
@given(
    st.one_of(st.none(), st.integers(100, 599)),
    bodies(),
    st.sampled_from(STEPS),
    st.one_of(st.none(), st.text(max_size=20)),
    HEADERS,
)
def test_every_answer_is_exactly_one_class_and_never_raises(
    status: int | None, body: Any, step: str, container_id: str | None, headers: dict[str, str]
) -> None:
    result = graph_errors.classify(
        http_status=status, body=body, step=step, container_id=container_id, headers=headers
    )
    assert type(result) in CLASSES
    assert sum(isinstance(result, kind) for kind in CLASSES) == 1
    assert str(result)  # a sentence to show
    if isinstance(result, errors.RateLimited):
        assert 0 <= result.retry_after <= graph_errors.MAX_RATE_LIMIT_WAIT


@PROPERTIES
@given(st.sampled_from(KNOWN_CODES + [None, 1, 999]), st.sampled_from(KNOWN_SUBCODES + [None, 7]))
def test_no_two_equally_specific_rules_disagree(code: int | None, subcode: int | None) -> None:
    matching = [rule for rule in graph_errors.TABLE if rule.matches(code, subcode)]
    if not matching:
        return
    best = max(rule.specificity for rule in matching)
    top = {
        (rule.kind, rule.on_read, rule.nothing_published)
        for rule in matching
        if rule.specificity == best
    }
    assert len(top) == 1, (code, subcode, top)


def unknown(code: int, subcode: int | None) -> bool:
    return graph_errors._lookup(code, subcode) is None


@PROPERTIES
@given(
    st.integers(-10, 10**7),
    st.one_of(st.none(), st.integers(0, 10**8)),
    st.sampled_from([None, 400, 500, 503]),
    st.booleans(),
    st.sampled_from(sorted(graph_errors.AMBIGUOUS_STEPS)),
)
def test_an_unknown_code_on_a_write_is_never_retried_blindly(
    code: int, subcode: int | None, status: int | None, transient: bool, step: str
) -> None:
    if not unknown(code, subcode):
        return
    body = {"error": {"code": code, "error_subcode": subcode, "is_transient": transient}}
    result = graph_errors.classify(http_status=status, body=body, step=step)
    # the write may have happened: look first (Ambiguous), or stop (Permanent)
    assert type(result) in (errors.Ambiguous, errors.Permanent)


@PROPERTIES
@given(st.sampled_from([None, 500, 502, 503, 504]), st.one_of(st.none(), st.text(max_size=30)))
def test_a_publish_without_a_graph_answer_is_ambiguous(status: int | None, body: Any) -> None:
    result = graph_errors.classify(http_status=status, body=body, step="publish")
    assert isinstance(result, errors.Ambiguous)
