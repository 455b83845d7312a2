"""The sandbox's fault switches: what goes wrong, and how often. All off by default.

A test flips them on the `Faults` object of an in-process `SandboxServer`, or through
`POST /_sandbox/faults` with a JSON object of the same fields when the sandbox runs in another
process. Counters (`lose_publish_responses`, `lose_comment_responses`, `error_containers`,
`expire_containers`, `rate_limited_calls`) count down as the sandbox uses them up. A few
fields are settings rather than faults (`captions_without_at`, `usage_percent`,
`refresh_min_age_s`); `reset` puts them back to their defaults too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from publisher.sandbox import meta_errors

LOSE_WITH = ("drop", "502", "500")
# Which login the sandbox plays (instagram-api.md §1): "instagram" (graph.instagram.com) or
# "facebook" (graph.facebook.com) answers only the endpoints documented for it; "both" all.
LOGINS = ("both", "instagram", "facebook")


@dataclass
class Faults:
    """Fault injection for the sandbox. Fields may be changed while it runs."""

    # Fraction of Graph requests answered HTTP 500, code 2, is_transient (nothing done).
    transient_5xx_rate: float = 0.0
    # The next N media_publish calls COMMIT the post, then lose the answer: the connection is
    # dropped ("drop"), answered HTTP 502 without a Graph body ("502"), or answered HTTP 500
    # with Meta's transient error body, code 2 ("500": it says nothing of the post).
    lose_publish_responses: int = 0
    lose_publish_with: str = "drop"
    # The login flavour played (LOGINS); a setting rather than a fault.
    login: str = "both"
    # Seconds to wait before answering media_publish, after the post is committed.
    publish_delay_s: float = 0.0
    # Status reads a container answers IN_PROGRESS before its end state (videos: 2 more).
    processing_polls: int = 2
    # Seconds on the sandbox's clock a new container stays IN_PROGRESS, however often it is
    # read, as Meta's processing takes time (videos: `video_processing_s`). 0: only the polls
    # count (fast tests).
    processing_s: float = 0.0
    video_processing_s: float = 0.0
    # The next N containers end in ERROR ("Error: Media upload has failed with error code
    # 2207026"), resp. EXPIRED, after their processing polls.
    error_containers: int = 0
    expire_containers: int = 0
    # content_publishing_limit: the cap, and posts counted on top of the real ones
    # (quota_used_extra = quota_total exhausts it).
    quota_total: int = 100
    quota_used_extra: int = 0
    # Every Graph call is refused with 190/463 (token expired).
    invalid_token: bool = False
    # Seconds added before every Graph answer (benchmarks).
    latency_s: float = 0.0
    # Captions read back without the "@" of their mentions, as Meta answers an app user
    # without an admin-equivalent role on the app (IG Media reference, `caption`).
    captions_without_at: bool = False
    # The usage figure (%) of the X-App-Usage and X-Business-Use-Case-Usage headers sent
    # with every Graph answer (80 and more: publisher spaces its calls out).
    usage_percent: int = 1
    # The next N Graph calls are refused as throttled, with code `rate_limit_code` (4 app,
    # 17 user, 32 page, 613 custom, 80002 Instagram BUC) and usage headers at 100 % that
    # say access is back in `rate_limit_regain_minutes`. Nothing is done for them.
    rate_limited_calls: int = 0
    rate_limit_code: int = 4
    rate_limit_regain_minutes: int = 1
    # The next N comment POSTs COMMIT the comment, then lose the answer (as
    # `lose_publish_with` says: the connection dropped, or a bare 502).
    lose_comment_responses: int = 0
    # Every comment POST is refused with code 10, as when the token lacks the comments
    # permission (instagram_business_manage_comments / instagram_manage_comments).
    refuse_comments: bool = False
    # Every insights read is refused with code 10, as when the token lacks the insights
    # permission (instagram_business_manage_insights / instagram_manage_insights).
    refuse_insights: bool = False
    # /refresh_access_token refuses a token younger than this (Meta: 24 hours).
    refresh_min_age_s: int = 86400
    # The next N resumable-upload POSTs (sandbox.rupload) keep only the first half of the
    # bytes they carry, then fail as `upload_interrupt_with` says: a bare 502 ("502") or
    # the connection dropped ("drop"). The client must resume from the offset Meta reports.
    upload_interruptions: int = 0
    upload_interrupt_with: str = "502"


def to_json(faults: Faults) -> dict[str, Any]:
    """Given faults, return them as a JSON-ready object."""
    return dataclasses.asdict(faults)


def apply(faults: Faults, changes: Mapping[str, Any]) -> None:
    """Given faults and a JSON object of some of its fields, set those fields.

    Raise ValueError naming the field and what is allowed if a name is unknown or a value has
    the wrong type or range; nothing is changed then.
    """
    kinds = {field.name: type(field.default) for field in dataclasses.fields(Faults)}
    checked: dict[str, Any] = {}
    for name, value in changes.items():
        kind = kinds.get(name)
        if kind is None:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(kinds))}")
        checked[name] = _checked(name, kind, value)
    for name, value in checked.items():
        setattr(faults, name, value)


def _checked(name: str, kind: type, value: Any) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"fault {name!r} must be true or false")
        return value
    if kind is str:
        allowed = LOGINS if name == "login" else LOSE_WITH
        if value not in allowed:
            raise ValueError(f"fault {name!r} must be one of {', '.join(allowed)}")
        return value
    number_types = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, number_types) or value < 0:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"fault {name!r} must be {what} >= 0")
    if name == "rate_limit_code" and value not in meta_errors.RATE_LIMIT_CODES:
        codes = ", ".join(map(str, sorted(meta_errors.RATE_LIMIT_CODES)))
        raise ValueError(f"fault {name!r} must be one of Meta's throttling codes: {codes}")
    if name == "transient_5xx_rate" and value > 1:
        raise ValueError(f"fault {name!r} is a fraction between 0 and 1")
    return kind(value)
