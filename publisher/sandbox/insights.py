"""GET /{ig-media-id}/insights in the sandbox: the metrics Meta documents for the media's
product type, made-up numbers that grow with the post's age, and Meta's limits.

Instagram Media Insights reference (Updated Jun 18, 2026,
https://developers.facebook.com/documentation/instagram-platform/reference/instagram-media/insights):
a metric not valid for the media is an error (#100); a metric with no data yet is left out of
the answer ("an empty data set instead of 0"); story metrics are kept for 24 hours only; a
token without the insights permission gets (#10).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from publisher.sandbox import meta_errors
from publisher.sandbox.world import Post

# What each product type takes (`saved` is Meta's name for saves; `views` replaced plays
# and impressions in v22.0).
METRICS = {
    "FEED": ("reach", "views", "likes", "comments", "saved", "shares", "total_interactions"),
    "REELS": ("reach", "views", "likes", "comments", "saved", "shares", "total_interactions"),
    "STORY": ("reach", "views", "shares", "replies", "total_interactions"),
}
STORY_KEPT = timedelta(hours=24)


def answer(post: Post, metric: str, now: datetime) -> dict[str, Any]:
    """Given a post, the `metric` query value (comma-separated) and now, return Meta's
    answer body. Raise GraphError (#100) for a missing or invalid metric."""
    wanted = [name.strip() for name in metric.split(",") if name.strip()]
    allowed = METRICS.get(post.media_product_type, METRICS["FEED"])
    if not wanted:
        raise meta_errors.bad_parameter("The parameter metric is required")
    for index, name in enumerate(wanted):
        if name not in allowed:
            raise meta_errors.bad_parameter(
                f"metric[{index}] must be one of the following values: {', '.join(allowed)}"
            )
    age = now - post.published_at
    if post.media_product_type == "STORY" and age >= STORY_KEPT:
        return {"data": []}
    hours = max(0, int(age.total_seconds() // 3600))
    seed = int(hashlib.sha256(post.id.encode()).hexdigest()[:6], 16) % 7 + 1
    data = [
        {
            "name": name,
            "period": "lifetime",
            "values": [{"value": _value(name, hours, seed)}],
            "title": name.replace("_", " ").capitalize(),
            "id": f"{post.id}/insights/{name}/lifetime",
        }
        for name in wanted
        if hours >= 1  # no data in the first hour: Meta's answer leaves the metric out
    ]
    return {"data": data}


def _value(name: str, hours: int, seed: int) -> int:
    reach = seed * 10 * min(hours, 24 * 7)
    return {
        "reach": reach,
        "views": reach * 2,
        "likes": reach // 10,
        "comments": reach // 50,
        "saved": reach // 40,
        "shares": reach // 60,
        "replies": reach // 80,
        "total_interactions": reach // 10 + reach // 50 + reach // 40 + reach // 60,
    }[name]
