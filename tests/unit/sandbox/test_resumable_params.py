"""sandbox.params: `upload_type=resumable` as Meta takes it (instagram-api.md §2.3): lowercase,
video containers only, and no media URL beside it."""

from __future__ import annotations

import pytest

from publisher.sandbox import params
from publisher.sandbox.meta_errors import GraphError


@pytest.mark.parametrize(
    "form",
    [
        {"media_type": "REELS", "upload_type": "resumable"},
        {"media_type": "STORIES", "upload_type": "resumable"},
        {"media_type": "VIDEO", "upload_type": "resumable", "is_carousel_item": "true"},
        {"media_type": "REELS", "upload_type": "resumable", "thumb_offset": "100"},
    ],
)
def test_video_containers_take_a_resumable_upload(form: dict[str, str]) -> None:
    spec = params.parse(form)
    assert spec.resumable and spec.is_video and spec.video_url is None


@pytest.mark.parametrize(
    "form",
    [
        {"upload_type": "resumable"},  # an image
        {"media_type": "CAROUSEL", "upload_type": "resumable", "children": "1,2"},
        {"media_type": "REELS", "upload_type": "RESUMABLE"},
        {"media_type": "REELS", "upload_type": "resumable", "video_url": "https://x/v.mp4"},
        {"media_type": "STORIES", "upload_type": "resumable", "image_url": "https://x/i.jpg"},
    ],
)
def test_anything_else_is_refused(form: dict[str, str]) -> None:
    with pytest.raises(GraphError):
        params.parse(form)
