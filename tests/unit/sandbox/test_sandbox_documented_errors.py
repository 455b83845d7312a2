"""The sandbox answers only errors Meta documents (issue 8, point 6): every error it can
build has a (code, subcode) in meta_errors.DOCUMENTED, an undocumented pair cannot be built,
and a throttling code that is not Meta's is refused when the fault is set."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import pytest

from publisher.sandbox import faults, meta_errors

SAMPLE = {"int": 5, "str": "x", "datetime": datetime(2026, 12, 1, tzinfo=UTC)}


def builders() -> list[str]:
    return [
        name
        for name, function in inspect.getmembers(meta_errors, inspect.isfunction)
        if function.__module__ == meta_errors.__name__
        and not name.startswith("_")
        and inspect.signature(function).return_annotation in ("GraphError", meta_errors.GraphError)
    ]


def test_there_are_builders_to_check() -> None:
    assert len(builders()) > 20


@pytest.mark.parametrize("name", builders())
def test_every_error_the_sandbox_builds_is_documented(name: str) -> None:
    function = getattr(meta_errors, name)
    arguments = [
        4 if parameter.name == "code" else SAMPLE.get(str(parameter.annotation), "x")
        for parameter in inspect.signature(function).parameters.values()
        if parameter.default is inspect.Parameter.empty
    ]
    error = function(*arguments)
    assert (error.code, error.subcode) in meta_errors.DOCUMENTED
    assert error.body()["error"]["code"] == error.code


@pytest.mark.parametrize(("code", "subcode"), [(1, 2207099), (3, None), (100, 12345)])
def test_an_undocumented_error_cannot_be_built(code: int, subcode: int | None) -> None:
    with pytest.raises(ValueError, match="only documented errors"):
        meta_errors.GraphError(code, "made up", subcode=subcode)


@pytest.mark.parametrize("code", sorted(meta_errors.RATE_LIMIT_CODES))
def test_each_throttling_code_of_meta_can_be_answered(code: int) -> None:
    assert meta_errors.rate_limited(code, 1).code == code


def test_a_throttling_code_meta_does_not_use_is_refused_as_a_fault() -> None:
    settings = faults.Faults()
    with pytest.raises(ValueError, match="throttling codes"):
        faults.apply(settings, {"rate_limit_code": 5})
    assert settings.rate_limit_code == 4
    faults.apply(settings, {"rate_limit_code": 80002})
    assert settings.rate_limit_code == 80002
